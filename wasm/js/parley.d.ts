// Type declarations of Parley's browser SDK (parley-web-sdk).

export type AgentStateName = 'idle' | 'prepare_answer' | 'answer' | 'pause';
export declare const AgentState: {
  readonly IDLE: 'idle';
  readonly PREPARE_ANSWER: 'prepare_answer';
  readonly ANSWER: 'answer';
  readonly PAUSE: 'pause';
};

/** Every failure the SDK reports. `code` is stable; `message` is for people. */
export declare class ParleyError extends Error {
  readonly code: ParleyErrorCode | string;
  constructor(code: string, message: string);
}

export type ParleyErrorCode =
  | 'microphone_denied' | 'no_microphone' | 'microphone_busy' | 'unsupported_browser'
  | 'insecure_context' | 'bad_key' | 'unknown_agent' | 'origin_not_allowed' | 'offline'
  | 'server_gone' | 'server_error' | 'bad_request' | 'rate_limited' | 'idle_timeout'
  | 'call_busy' | 'config_invalid' | 'bad_value' | 'not_connected';

export interface ReconnectOptions {
  initialDelayMs?: number;  // 250
  maxDelayMs?: number;      // 5000
  multiplier?: number;      // 2
  jitter?: number;          // 0.2
  maxAttempts?: number;     // 8
  maxOutageMs?: number;     // 30000
}

export interface KeyValueStorage {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export interface Config {
  publicKey: string;
  /** The voice socket, e.g. "wss://host/v1/voice" (default: this page's origin). */
  endPoint?: string;
  /** The Memori REST API's origin (default: endPoint's origin). */
  apiBase?: string;
  /** One embedding of the widget on a site; sessions are kept per integration id. */
  integrationId?: string;
  debug?: boolean;
  /** The agent, for resume() before any start(). */
  agentId?: string;
  reconnect?: ReconnectOptions;
  pingIntervalMs?: number;
  /** Where the session is remembered (default: localStorage, else memory). */
  storage?: KeyValueStorage;
  /** The AudioWorklet module (default: parley-worklet.js beside parley.mjs). */
  workletUrl?: string;
  /** For node and tests: a WebSocket class and a fetch function. */
  WebSocket?: unknown;
  fetch?: typeof fetch;
}

export interface AgentConfig { [key: string]: unknown }

export interface StartPayload {
  agent: { agent_id?: string; agent_config?: AgentConfig };
  metadata?: Record<string, unknown>;
  include_metadata_in_prompt?: boolean;
  session_continuation?: { session_id?: string };
}

export interface ReadyPayload {
  session_id: string;
  continued_from?: string;
  continuation?: 'resumed' | 'continued' | 'expired' | 'not_found' | 'opted_out';
}

export interface ClientEvents {
  onopen: () => void;
  onready: (payload: ReadyPayload) => void;
  onsessionended: (data: null, payload: { reason?: string }) => void;
  onaudio: (audio: Uint8Array) => void;
  onresponsetext: (text: string, payload: { is_final: boolean }) => void;
  ontranscript: (text: string, payload: { is_final: boolean }) => void;
  onagentstate: (state: AgentStateName) => void;
  onlatency: (ms: number) => void;
  onrtt: (ms: number) => void;
  onclose: (event: { code: number; reason: string }) => void;
  onerror: (error: ParleyError) => void;
  onwarning: (warning: { code: string; message: string }) => void;
  /** Levels 0..1 for animation (about 50 per second while the microphone runs). */
  onlevel: (level: { input: number; output: number; speaking: boolean }) => void;
  onreconnecting: (info: { attempt: number; delay_ms: number; code: number }) => void;
  ai_action: (data: unknown, payload: unknown) => void;
  [method: string]: (...args: any[]) => void;
}

export interface ChatLine {
  text: string;
  inbound: boolean;   // true: the user said it
  timestamp: string;
  earlier: boolean;   // from a session the current one continues
  emitter?: string;
}

export interface ResumeOptions {
  integrationId?: string;
  agentId?: string;
  /** A session to resume (e.g. the embed URL's sessionID), for this load only: it is never
   *  stored over the remembered one. */
  sessionId?: string;
  /** Sent as initialContextVars when a new session is opened. Its identity keys say who the
   *  visitor is: a remembered session is resumed only for the same identity. */
  metadata?: Record<string, string | string[]>;
  /** The identity metadata keys, comma-separated (default "userId,user_id,userName,userEmail,email,phone"; "" for none). */
  identityKeys?: string;
  additionalInfo?: Record<string, string>;
  /** The local resume window (default 3600000). */
  windowMs?: number;
  /** Fetch only the newest N lines of the history (default: all); `omittedLines` in the
   *  result counts the older ones, which history() fetches. */
  historyLines?: number;
  /** Replies to requests sent before the SDK had loaded (the entries of resumeRequests(),
   *  each with the promise fetch(url, init) returned). A reply is used only for the request
   *  the core asks for now, sent exactly as this client sends it; the others are dropped. */
  early?: Array<EarlyRequest & { response: Promise<Response> }>;
}

/** A request the resume flow will start with: the core's request text (key) and what
 *  fetch() is given for it. */
export interface EarlyRequest {
  key: string;
  url: string;
  init: RequestInit;
}

export interface ResumeResult {
  sessionID: string;
  /** true: the stored session was still valid and goes on. */
  resumed: boolean;
  /** Resumed: the whole history; new: the lines of the session it continues. */
  history: ChatLine[];
  /** Resumed: the agent's last message, inside history (show it once). */
  lastAgentIndex: number | null;
  /** New session: the welcome message. */
  welcome: string | null;
  continuedFrom: string | null;
  reason?: 'no_candidate' | 'expired_locally' | 'invalid_on_server';
  historyError?: { code: string; message: string };
  /** Older lines not fetched (historyLines): history() returns them first. */
  omittedLines: number;
  /** How many of options.early's replies were used. */
  earlyUsed: number;
}

export interface WidgetState {
  integrationID: string;
  sessionID: string | null;
  agentID: string | null;
  connection: 'idle' | 'connecting' | 'open' | 'ready' | 'closing' | 'closed' | 'failed' | 'reconnecting';
  agentState: AgentStateName;
  muted: boolean;
  resumed: boolean;
  continuedFrom: string | null;
  lastActivity: number | null;
}

export interface WidgetUrlConfig {
  agent_id: string;
  public_key: string;
  session_id: string | null;
  integration_id: string | null;
  /** identityKeys as given; null: the defaults. */
  identity_keys: string | null;
  /** The page asks to forget the stored session (a site's logout). */
  logout: boolean;
  metadata: Record<string, string | string[]>;
}

export interface TemplateCheck {
  text: string;
  used: string[];
  missing: string[];
  defaulted: string[];
  ok: boolean;
}

export declare class Client {
  constructor(config: Config);
  on<E extends keyof ClientEvents>(event: E, fn: ClientEvents[E]): this;
  once<E extends keyof ClientEvents>(event: E, fn: ClientEvents[E]): this;
  off<E extends keyof ClientEvents>(event: E, fn?: ClientEvents[E]): this;
  removeAllListeners(event?: keyof ClientEvents): this;
  start(payload: StartPayload | AgentConfig | string, metadata?: Record<string, unknown>,
        includeMetadataInPrompt?: boolean): Promise<void>;
  stop(): Promise<void>;
  mute(): void;
  unmute(): void;
  sendText(text: string): Promise<void>;
  resume(options?: string | ResumeOptions): Promise<ResumeResult>;
  /** The requests resume(options) would start with now, as the core decides them (reads
   *  only; [] when it would open a new session): for a page to send on its next load while
   *  the SDK loads, and to hand to resume() as `early`. */
  resumeRequests(options?: string | ResumeOptions): EarlyRequest[];
  /** The whole history of the session in use, oldest first. */
  history(): Promise<ChatLine[]>;
  getState(integrationId?: string): WidgetState;
  getStats(): Record<string, unknown>;
  /** Ends the call and forgets the session stored for this client's integration. */
  logout(): Promise<void>;
}

export declare function createClient(config: Config): Client;
export declare function parseWidgetUrl(url: string): WidgetUrlConfig;
export declare function checkTemplate(template: string, metadata?: Record<string, unknown>): TemplateCheck;
export declare function getState(integrationId?: string, storage?: KeyValueStorage): WidgetState;
/** Forgets the session stored for the integration (a site's logout). */
export declare function logout(integrationId?: string, storage?: KeyValueStorage): void;
export declare const version: string;

declare const Parley: {
  createClient: typeof createClient;
  parseWidgetUrl: typeof parseWidgetUrl;
  checkTemplate: typeof checkTemplate;
  getState: typeof getState;
  logout: typeof logout;
  AgentState: typeof AgentState;
  ParleyError: typeof ParleyError;
  Client: typeof Client;
  version: string;
};
export default Parley;
