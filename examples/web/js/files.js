// File transfer: hash (SHA-256), offer, upload chunk by chunk with progress,
// complete; download chunk by chunk with progress, check size and SHA-256,
// then hand the file to the browser to save. Nothing is saved on a mismatch.

import * as P from "./protocol.js";
import { sha256 } from "./sha256.js";
import { ChatError } from "./errors.js";

/** Uploads to the open conversation `key`; `progress(fraction)` as chunks are stored. */
export async function upload(session, key, file, progress) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const digest = await sha256(bytes);
  const offered = await session.request(P.Req.offerFile(P.keyPeer(key), file.name, bytes.length, digest));
  const chunk = offered.chunk_size;
  progress(0);
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    const piece = bytes.subarray(offset, Math.min(bytes.length, offset + chunk));
    await session.request(P.Req.uploadChunk(offered.file, offset, piece));
    progress((offset + piece.length) / bytes.length);
  }
  await session.request(P.Req.completeFile(offered.file));
  progress(1);
  const c = session.state.conv(key);
  const known = c.files.get(offered.file) ?? { ts: Date.now() };
  Object.assign(known, { id: offered.file, from: session.state.me, name: file.name, size: bytes.length, sha256: digest });
  c.files.set(offered.file, known);
  session.state.changed();
  return offered.file;
}

/**
 * Downloads file `info` ({id, name, size, sha256?}) of conversation `key`:
 * returns its bytes once their size and SHA-256 match what the server listed.
 */
export async function download(session, key, info, progress) {
  let expected = info.sha256;
  if (!expected) {
    await session.loadFiles(session.state.conv(key));
    expected = session.state.conv(key).files.get(info.id)?.sha256;
    if (!expected) throw new ChatError("no_such_file");
  }
  const parts = [];
  let offset = 0;
  progress(0);
  while (offset < info.size) {
    const answer = await session.request(P.Req.downloadChunk(info.id, offset, P.FILE_CHUNK));
    if (answer.bytes.length === 0) break;
    parts.push(answer.bytes);
    offset += answer.bytes.length;
    progress(Math.min(1, offset / info.size));
  }
  const bytes = new Uint8Array(offset);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  const digest = await sha256(bytes);
  if (offset !== info.size || P.hex(digest) !== P.hex(expected)) throw new ChatError("file_checksum");
  return bytes;
}

/** Offers `bytes` to the browser as a download named `name`. */
export function save(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes]));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** "2.0 MiB". */
export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
