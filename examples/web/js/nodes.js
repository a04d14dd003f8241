// The servers this page may talk to: the one that served it, then the other
// nodes of its cluster (chat-server --web-peer), shuffled so that the pages
// of a node that goes away spread over the rest.

let knownPeers = []; // the last list a server gave: its origin may be gone since

/** The WebSocket endpoint of the server that served this page. */
export function ownEndpoint() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

/** `own` first, then `peers` in a random order, each once. */
export function endpointOrder(own, peers, random = Math.random) {
  const rest = [...new Set(peers)].filter((url) => url !== own);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  return [own, ...rest];
}

/** The endpoints to try, in order: asks the page's server for its peers (the last answer if it cannot). */
export async function endpoints() {
  try {
    const answer = await fetch("peers.json", { cache: "no-store" });
    if (answer.ok) {
      const { peers } = await answer.json();
      if (Array.isArray(peers)) knownPeers = peers.filter((url) => typeof url === "string");
    }
  } catch {
    // The page's own server is gone: keep what it said before.
  }
  return endpointOrder(ownEndpoint(), knownPeers);
}

/** "host:port" of a WebSocket URL, to show which server a page is on. */
export const hostOf = (url) => new URL(url).host;
