// The item's media with its evidence: the video (or picture) with the boxes of the moment drawn
// over it, and a timeline of cuts, segments, text lines and evidence times; clicking the
// timeline or an evidence mark plays from there.

import { forwardRef, useImperativeHandle, useRef, useState } from "react";
import type { Box, ItemDetail } from "./types";
import { seconds } from "./util";

const COLORS = ["#e4572e", "#1f4fd1", "#17a398", "#f3a712", "#8e44ad", "#2e86ab", "#c0392b", "#27ae60"];
const HOLD_S = 1.0; // a box is shown from its evidence time until the next sample (1 fps pipelines)

export interface PlayerHandle {
  seek: (t: number) => void;
  toggle: () => void;
}

function colorOf(step: string, steps: string[]): string {
  return COLORS[Math.max(0, steps.indexOf(step)) % COLORS.length];
}

export const Player = forwardRef<PlayerHandle, { item: ItemDetail }>(function Player({ item }, ref) {
  const video = useRef<HTMLVideoElement>(null);
  const [now, setNow] = useState(0);
  const { width, height, boxes, duration_s: duration } = item.timeline;
  const steps = Object.keys(item.record.factors ?? {});
  useImperativeHandle(ref, () => ({
    seek: (t: number) => {
      if (!video.current) return;
      video.current.currentTime = t;
      setNow(t);
      void video.current.play().catch(() => undefined);
    },
    toggle: () => {
      const v = video.current;
      if (v) (v.paused ? v.play().catch(() => undefined) : v.pause());
    },
  }));
  if (!item.media.available) {
    return <div className="rv-nomedia" data-testid="rv-no-media">{item.media.reason}</div>;
  }
  const isImage = item.media.kind === "image";
  // Per step, the latest box at or before now (held for HOLD_S); every box on a still.
  const current: Box[] = isImage ? boxes : Object.values(
    boxes.filter((b) => b.t <= now + 0.05 && now - b.t < HOLD_S)
      .reduce<Record<string, Box[]>>((acc, b) => {
        const key = `${b.step}:${b.text ?? ""}`;
        if (!acc[key] || acc[key][0].t < b.t) acc[key] = [b];
        return acc;
      }, {}),
  ).flat();
  return (
    <div className="rv-player" style={{ aspectRatio: width && height ? `${width} / ${height}` : "16 / 9" }}>
      {isImage ? (
        <img src={item.media.video_url ?? ""} alt={item.name} />
      ) : (
        <video ref={video} src={item.media.video_url ?? ""} poster={item.media.thumb_url ?? undefined} controls preload="metadata"
               data-testid="rv-video" onTimeUpdate={(e) => setNow(e.currentTarget.currentTime)} onSeeked={(e) => setNow(e.currentTarget.currentTime)} />
      )}
      {width && height ? (item.timeline.bars ?? []).flatMap((bar) => [
        { k: "top", style: { left: 0, right: 0, top: 0, height: `${(100 * bar.top) / height}%` } },
        { k: "bottom", style: { left: 0, right: 0, bottom: 0, height: `${(100 * bar.bottom) / height}%` } },
        { k: "left", style: { top: 0, bottom: 0, left: 0, width: `${(100 * bar.left) / width}%` } },
        { k: "right", style: { top: 0, bottom: 0, right: 0, width: `${(100 * bar.right) / width}%` } },
      ].filter((b) => bar[b.k as "top"] > 0).map((b) => (
        <div key={`${bar.step}-${b.k}`} className="rv-bar" data-testid={`rv-bar-${bar.step}-${b.k}`} style={b.style}
             title={`${bar.step}.${b.k} ${bar[b.k as "top"]} px`} />
      ))) : null}
      {width && height ? current.map((b, n) => (
        <div key={`${b.step}-${b.t}-${n}`} className="rv-box" data-testid={`rv-box-${b.step}`}
             style={{ left: `${(100 * b.box[0]) / width}%`, top: `${(100 * b.box[1]) / height}%`, width: `${(100 * b.box[2]) / width}%`,
                      height: `${(100 * b.box[3]) / height}%`, borderColor: colorOf(b.step, steps) }}>
          <span style={{ background: colorOf(b.step, steps) }}>{b.step}{b.text ? `: ${b.text}` : ""}</span>
        </div>
      )) : null}
      {!isImage && <div className="rv-now" data-testid="rv-now">{seconds(now)} / {seconds(duration)}</div>}
    </div>
  );
});

export function Timeline({ item, onSeek }: { item: ItemDetail; onSeek: (t: number) => void }) {
  const { tracks, evidence, duration_s } = item.timeline;
  const duration = Math.max(duration_s ?? 0, ...evidence.map((e) => e.t), 0.001);
  const steps = Object.keys(item.record.factors ?? {});
  const evidenceSteps = [...new Set(evidence.map((e) => e.step))];
  const rows = [
    ...tracks.map((t) => ({ name: t.name, render: () => renderTrack(t, duration) })),
    ...evidenceSteps.map((step) => ({
      name: `${step} evidence`,
      render: () => evidence.filter((e) => e.step === step).map((e, n) => (
        <circle key={n} cx={(1000 * e.t) / duration} cy={9} r={4} fill={colorOf(step, steps)} className="rv-mark"
                data-testid={`rv-evidence-${step}-${e.t}`} onClick={(ev) => { ev.stopPropagation(); onSeek(e.t); }}>
          <title>{`${step} at ${seconds(e.t)}: play from here`}</title>
        </circle>
      )),
    })),
  ];
  if (!rows.length) return <p className="rv-muted">no timed evidence</p>;
  return (
    <div className="rv-timeline" data-testid="rv-timeline">
      {rows.map((row) => (
        <div key={row.name} className="rv-track">
          <span className="rv-track-name">{row.name}</span>
          <svg viewBox="-6 0 1012 18" preserveAspectRatio="none" onClick={(e) => {
            const r = e.currentTarget.getBoundingClientRect();
            const x = ((e.clientX - r.left) / r.width) * 1012 - 6; // back to the 0-1000 time axis
            onSeek(Math.min(duration, Math.max(0, (x / 1000) * duration)));
          }}>
            <rect x={0} y={8} width={1000} height={2} fill="#dfe3ea" />
            {row.render()}
          </svg>
        </div>
      ))}
      <div className="rv-axis"><span>0 s</span><span>{seconds(duration)}</span></div>
    </div>
  );
}

function renderTrack(track: ItemDetail["timeline"]["tracks"][number], duration: number) {
  if (track.kind === "points") {
    return track.items.map((p, n) => (
      <rect key={n} x={(1000 * (p.t ?? 0)) / duration - 1.5} y={1} width={3} height={16} fill="#1d2433">
        <title>{`${track.name} ${seconds(p.t)}`}</title>
      </rect>
    ));
  }
  return track.items.map((s, n) => (
    <rect key={n} x={(1000 * (s.start_s ?? 0)) / duration} y={3} rx={2} width={Math.max(2, (1000 * ((s.end_s ?? 0) - (s.start_s ?? 0))) / duration)}
          height={12} fill="#17a398" opacity={0.75}>
      <title>{`${track.name} ${seconds(s.start_s)}–${seconds(s.end_s)}${s.text ? `: ${s.text}` : ""}`}</title>
    </rect>
  ));
}
