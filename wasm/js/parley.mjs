// Parley's browser SDK: an ES module over the wasm core. The API keeps the Millis web SDK's
// names (`import Parley from ...; Parley.createClient({publicKey, endPoint}).start(...)`), so
// its users can switch by changing the import, and adds sendText, getState, parseWidgetUrl,
// checkTemplate and resume. See parley.d.ts for every type.
import * as M from './core.mjs';
import { Client } from './client.mjs';
import { ParleyError } from './errors.mjs';
import { browserStorage } from './storage.mjs';

export { Client, ParleyError };

export const AgentState = Object.freeze({
  IDLE: 'idle', PREPARE_ANSWER: 'prepare_answer', ANSWER: 'answer', PAUSE: 'pause',
});

export function createClient(config) {
  return new Client(config);
}

// An embed URL (or a relative one: "/embed?id=...") read by the core's rules: {agent_id,
// public_key, session_id, integration_id, metadata}. Throws a ParleyError naming the bad
// parameter.
export function parseWidgetUrl(url) {
  const r = JSON.parse(M.parseWidgetUrl(String(url)));
  if (r.error) throw ParleyError.from(r.error);
  return r.ok;
}

// Fills `template` from `metadata` as the agent will: {text, used, missing, defaulted, ok}.
export function checkTemplate(template, metadata) {
  const r = JSON.parse(M.checkTemplate(String(template), metadata == null ? '' : JSON.stringify(metadata)));
  if (r.error) throw ParleyError.from(r.error);
  return r;
}

// What is stored for an integration (no live call): {integrationID, sessionID, ...}. A
// client's getState() adds its call.
export function getState(integrationId = '', storage = browserStorage()) {
  return JSON.parse(M.stateOf(storage, integrationId));
}

// A site's logout: forgets the session stored for the integration, so that the next person on
// this browser starts a conversation of their own. (A client's logout() also ends its call.)
export function logout(integrationId = '', storage = browserStorage()) {
  M.forget(storage, integrationId);
}

export const version = '0.1.0';

export default { createClient, parseWidgetUrl, checkTemplate, getState, logout, AgentState, ParleyError, Client, version };
