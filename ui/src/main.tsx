import { ReactFlowProvider } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { Root } from "./review/Root";
import "./styles.css";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Root
      editor={
        <ReactFlowProvider>
          <App />
        </ReactFlowProvider>
      }
    />
  </StrictMode>,
);
