// One WebSocket to the server at a time, speaking chatcore.json.v1: the hello,
// requests matched to their answers by req_id, heartbeat answers, batched
// acks, and reconnection with exponential backoff, each attempt to the next
// of the servers it was given (a cluster's nodes: any of them serves the
// page). What a connection is for (logging in, what to do with items and
// events) is the session's business: it gets `onReady` after each hello and
// `onFrame` for every item and event.

import * as P from "./protocol.js";
import { ChatError } from "./errors.js";

/** Backoff before reconnect attempt `n` (0, 1, ...): 0.5 s doubling up to 15 s, with jitter. */
export function backoffMs(n) {
  const base = Math.min(15000, 500 * 2 ** n);
  return Math.round(base * (0.6 + 0.4 * Math.random()));
}

export class Connection {
  /**
   * @param {string[]} urls  ws:// or wss:// URLs of the servers' /ws endpoints, in
   *   the order to try them (the first first)
   * @param {object} hooks  onReady(conn): after the hello (log in there; throw to close);
   *   onFrame(frame): every item and event; onStatus(status, detail): "connecting",
   *   "online", "waiting" (detail: ms until the next attempt), "stopped"
   */
  constructor(urls, hooks) {
    this.urls = urls;
    this.next = 0; // index into urls of the next attempt
    this.url = null; // the endpoint of the current (or last) socket
    this.hooks = hooks;
    this.ws = null;
    this.nextReqId = 1;
    this.pending = new Map(); // req_id -> {resolve, reject} (null: an answer nobody waits for)
    this.ackPos = null; // the stream position to ack next
    this.ackIds = []; // room message ids to ack
    this.ackTimer = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.stopped = true;
    this.ready = false;
  }

  /** Connects, and keeps reconnecting until `stop`. */
  start() {
    this.stopped = false;
    this.open();
  }

  /** Closes for good (logout, kicked, revoked). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000);
    this.hooks.onStatus("stopped");
  }

  /** Drops the current socket and reconnects (after a failed login, say). */
  drop() {
    if (this.ws) this.ws.close(4000);
  }

  open() {
    this.url = this.urls[this.next % this.urls.length];
    this.hooks.onStatus("connecting");
    const ws = new WebSocket(this.url, P.SUBPROTOCOL);
    this.ws = ws;
    this.ready = false;
    ws.onopen = () => ws.send(JSON.stringify(P.hello("chatcore-web/1")));
    ws.onmessage = (msg) => this.receive(ws, msg.data);
    ws.onclose = () => this.closed(ws);
  }

  async receive(ws, text) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = P.decodeServerFrame(text);
    } catch (e) {
      console.error("undecodable frame", e, text);
      return;
    }
    if (frame.kind === "hello") {
      if (frame.version < P.PROTOCOL_VERSION) {
        console.error("server speaks protocol", frame.version);
      }
      try {
        await this.hooks.onReady(this);
        if (ws !== this.ws) return;
        this.ready = true;
        this.attempt = 0;
        this.hooks.onStatus("online");
      } catch (e) {
        console.warn("not ready:", e);
        if (ws === this.ws) ws.close(4000);
      }
    } else if (frame.kind === "response") {
      const waiter = this.pending.get(frame.reqId);
      this.pending.delete(frame.reqId);
      if (!waiter) return;
      if (frame.ok) waiter.resolve(frame.value);
      else waiter.reject(new ChatError(frame.code));
    } else if (frame.kind === "event" && frame.event.type === "Ping") {
      this.send(P.Req.ping(), true);
    } else {
      this.hooks.onFrame(frame);
    }
  }

  closed(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.ready = false;
    // Acks name positions of this connection only: what they would have
    // acked comes again after the next login (and is recognised there).
    this.ackPos = null;
    this.ackIds = [];
    clearTimeout(this.ackTimer);
    for (const waiter of this.pending.values()) waiter?.reject(new ChatError("disconnected"));
    this.pending.clear();
    if (this.stopped) return;
    // Whatever ended it (the node gone, a failed login), the next server is tried next.
    this.next = (this.next + 1) % this.urls.length;
    const wait = backoffMs(this.attempt++);
    this.hooks.onStatus("waiting", wait);
    this.retryTimer = setTimeout(() => this.open(), wait);
  }

  /** Reconnects now instead of waiting out the backoff. */
  retryNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a request; resolves with the flattened response, rejects with a
   * ChatError (code "disconnected" if the connection is gone first).
   * `fireAndForget`: nobody waits for the answer.
   */
  send(req, fireAndForget = false) {
    if (!this.connected) return Promise.reject(new ChatError("disconnected"));
    this.flushAcks(); // acks first: a later answer means they were processed
    const reqId = this.nextReqId++;
    const promise = fireAndForget
      ? null
      : new Promise((resolve, reject) => this.pending.set(reqId, { resolve, reject }));
    if (fireAndForget) this.pending.set(reqId, null);
    this.ws.send(JSON.stringify(P.request(reqId, req)));
    return promise;
  }

  /** Acks the stream up to `pos` (cumulative) once the page has handled it. */
  ackItem(pos) {
    this.ackPos = Math.max(this.ackPos ?? 0, pos);
    this.scheduleAcks();
  }

  /** Acks a room message by id (moves this user's delivered position in the room). */
  ackRoomMessage(id) {
    this.ackIds.push(id);
    this.scheduleAcks();
  }

  scheduleAcks() {
    if (this.ackTimer === null) this.ackTimer = setTimeout(() => this.flushAcks(), 10);
  }

  flushAcks() {
    clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (!this.connected) return;
    if (this.ackPos !== null) this.ws.send(JSON.stringify(P.ackUpTo(this.ackPos)));
    this.ackPos = null;
    while (this.ackIds.length > 0) {
      this.ws.send(JSON.stringify(P.ackIds(this.ackIds.splice(0, 4096))));
    }
  }
}
