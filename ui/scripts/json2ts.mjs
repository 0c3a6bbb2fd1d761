// JSON Schema (stdin: {"schema": ..., "banner": "..."}) -> TypeScript (stdout), with the pinned
// json-schema-to-typescript. Run by scripts/gen_ui_types.py; not meant to be called by hand.
import { compile } from "json-schema-to-typescript";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { schema, banner } = JSON.parse(input);
const ts = await compile(schema, schema.title, {
  bannerComment: banner,
  additionalProperties: false, // a model's keys are all its keys (extra="forbid" on the server)
  declareExternallyReferenced: true,
  enableConstEnums: false,
  strictIndexSignatures: false,
  format: true,
  style: { bracketSpacing: true, printWidth: 120, semi: true, singleQuote: false, trailingComma: "all" },
});
process.stdout.write(ts);
