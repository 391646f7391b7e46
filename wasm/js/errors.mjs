// ParleyError: every failure the SDK reports, with a stable `code` and a plain `message`
// (the codes and messages come from the core: widget/include/parley/client_errors.hpp).
import * as M from './core.mjs';

export class ParleyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ParleyError';
    this.code = code;
  }
  static from(e) {
    return new ParleyError(e.code, e.message);
  }
}

// kind: "media" (name = the DOMException name), "unreachable", "unsupported", "insecure".
export function clientError(kind, name = '', detail = '') {
  return ParleyError.from(JSON.parse(M.clientError(kind, name, String(detail).slice(0, 300))));
}

export function isOnline() {
  return typeof navigator === 'undefined' || navigator.onLine !== false;
}
