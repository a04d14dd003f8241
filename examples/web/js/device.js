// This browser as a device of a user: the id the server issued, kept in
// localStorage per server and user, and the name a new device gets.

/** Where this browser keeps the device id the server issued to `user`. */
export const deviceKey = (user) => `chatcore.device.${location.host}.${user.toLowerCase()}`;

/** A name for this browser's device, e.g. "Chrome on Linux". */
export function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom/.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "web";
  return `${browser} on ${os}`;
}
