// The host's one JSON config file: server settings and the list of agents (issue 4).
//
// parse_host_config() checks every field a stranger's file could get wrong and answers with
// an Error whose message names the field by its path ("agents[1].public_keys[0]") and the rule
// broken; unknown keys are refused too (a typo must not silently drop a setting). Defaults are
// the values below. The parser never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/host/sip_config.hpp"
#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley::host {

// An outgoing HTTP call the host makes: a webhook or a tool. `url` is http:// or https://.
struct WebhookConfig {
  std::string url;
  std::string method = "POST";              // POST or GET
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given
  std::uint32_t timeout_ms = 3000;          // 1..30000
};

// A function the agent may call (DESIGN §6). `parameters` is a JSON-schema object
// {"type":"object","properties":{name:{"type":"string|number|integer|boolean",...}},
//  "required":[...]}: exactly what fill_function_arguments() (parley/templates.hpp) reads.
struct ToolConfig {
  std::string name;         // [A-Za-z_][A-Za-z0-9_-]{0,63}, unique within the agent
  std::string description;
  json parameters = json::object();
  WebhookConfig webhook;
};

// The agent's mind when it is an OpenAI-compatible chat-completions server (DESIGN §13):
// OpenAI, Ollama, llama.cpp's server, vLLM. The host POSTs <base_url>/chat/completions with
// stream: true. The API key comes from the environment variable named by api_key_env (sent
// as "Authorization: Bearer <key>"), never from this file, and is never logged.
struct LlmConfig {
  std::string provider = "openai";  // the only provider: the OpenAI wire format
  std::string base_url;             // http(s)://host[:port]/v1 (required)
  std::string model;                // required, 1..256 bytes
  std::string api_key_env;          // [A-Za-z_][A-Za-z0-9_]{0,127}; "" = send no key
  std::optional<double> temperature;          // 0..2; absent = the server's default
  std::optional<std::uint32_t> max_tokens;    // 1..1000000; absent = the server's default
  // The time the server may take to begin answering, and then between two pieces of the
  // answer (not for the whole answer: a long one that keeps coming is never cut). 100..600000.
  std::uint32_t timeout_ms = 30000;
};

// One rule of the built-in responder: the first rule whose words or pattern match the user's
// text answers. `words`: any of them as a whole word, case-insensitively. `pattern`: an
// ECMAScript regular expression, case-insensitive (checked at load; at most 256 bytes).
// At least one of words / pattern. `reply` is a template (DESIGN §6) that sees metadata,
// prefetched variables, and, when `tool` is set, the tool's JSON reply under `tool.`.
struct ReplyRule {
  std::vector<std::string> words;
  std::string pattern;
  std::string reply;
  std::string tool;             // name of one of the agent's tools, or empty
  json tool_arguments = json::object();  // the model-side arguments; metadata overrides
};

// The first backreference in an ECMAScript pattern (`\1`..`\9`, `\k<name>`), or "" when there
// is none. The responder matches with libstdc++'s polynomial-time matcher, which has no
// backreferences, so the config check refuses a pattern that holds one (naming it) instead of
// loading a rule that could never match.
std::string pattern_backreference(std::string_view pattern);

struct SessionTimeout {
  std::uint32_t max_duration_s = 0;  // 0 = no limit
  std::uint32_t max_idle_s = 0;      // 0 = no limit
  std::string message;               // spoken / sent before the call ends
};

struct FlowConfig {
  bool user_start_first = false;
  bool interruption_allowed = true;       // flow.interruption.allowed
  bool keep_interruption_message = true;  // flow.interruption.keep_interruption_message
  std::uint32_t response_delay_ms = 0;    // flow.response_delay
};

// The agent's voice. provider "espeak-ng" speaks with that synthesizer; "none" keeps the
// agent text-only even when the server has speech on. voice_id is an espeak-ng voice name
// with an optional variant ("en-us", "en-gb+f3"; 1..64 of [A-Za-z0-9_+-]); empty = from
// `language` ("en-US" -> "en-us").
struct VoiceConfig {
  std::string provider = "espeak-ng";
  std::string voice_id;
};

struct AgentConfig {
  std::string id;             // 1..64 of [A-Za-z0-9_-]
  std::string name;
  std::string prompt;         // the system prompt (a template)
  std::string first_message;  // the welcome message (a template)
  std::string language = "en-US";
  VoiceConfig voice;
  std::vector<ToolConfig> tools;
  std::vector<ReplyRule> rules;
  std::string fallback_reply = "Sorry, I did not understand that.";
  std::string resume_message;   // said when a call continues; empty = none
  bool opt_out_data_collection = false;  // privacy_settings.opt_out_data_collection
  SessionTimeout session_timeout;
  FlowConfig flow;
  std::uint32_t resume_window_s = 3600;     // DESIGN §5
  std::uint32_t retention_s = 30 * 86400;   // continuation and chat logs kept this long
  std::vector<std::string> public_keys;     // at least one
  // Exact origins ("https://shop.example") or with a port wildcard ("http://127.0.0.1:*").
  // Empty list = no browser origin is allowed (non-browser clients send no Origin).
  std::vector<std::string> allowed_origins;
  std::string secret;  // HMAC key for loginToken; empty = user tokens are refused
  // Millis's webhooks (DESIGN §6), each a URL string or {url, headers?, timeout_ms?} in the
  // file. extra_prompt_webhook: a GET at call start whose reply's `metadata` is merged into
  // the session's and whose `extra_prompt` is appended to the system prompt.
  // session_data_webhook: the end-of-call report, POSTed through the outbox.
  std::optional<WebhookConfig> extra_prompt_webhook;
  std::optional<WebhookConfig> session_data_webhook;
  std::string custom_llm_websocket;          // ws:// URL, or empty = built-in responder
  std::optional<LlmConfig> llm;              // an OpenAI-compatible LLM (not with the above)
  // The agent fields a call's agent_config may set (DESIGN §3; default none). Never a field
  // that carries a URL or a secret, nor the agent's identity, access or data policy.
  std::vector<std::string> allow_overrides;
  std::vector<std::string> custom_vocabulary;  // custom_vocabulary.keywords (speech hints)
  // Phone numbers this agent answers (inbound) and calls from (outbound, through the trunk
  // whose server.sip.trunks[].numbers lists it), E.164; each belongs to one agent only.
  std::vector<std::string> phone_numbers;
  // memory.by_phone (DESIGN §11): a phone call continues the latest session (within
  // retention) of the number on the other end, without a session id.
  bool memory_by_phone = false;

  const ToolConfig* find_tool(std::string_view tool_name) const;
  // True when `origin` (the browser's Origin header, e.g. "http://127.0.0.1:5173") matches one
  // of allowed_origins. An absent Origin (nullopt: a native client) is always allowed.
  bool origin_allowed(std::optional<std::string_view> origin) const;
  bool has_public_key(std::string_view key) const;
};

struct ServerLimits {
  std::uint32_t max_header_bytes = 8 * 1024;
  std::uint32_t max_body_bytes = 64 * 1024;
  std::uint32_t max_ws_message_bytes = 64 * 1024;  // DESIGN §3 audio cap
  std::uint32_t max_send_queue = 256;       // frames queued per socket before it is dropped
  std::uint32_t idle_timeout_s = 60;        // nothing received for this long → 4408 / close
  std::uint32_t handshake_timeout_s = 10;   // HTTP request / WS upgrade must finish in this
  std::uint32_t max_connections = 10000;
  std::uint32_t max_audio_bytes_per_s = 64000;  // 2× real time of 16 kHz PCM16, averaged
  std::uint32_t max_text_messages_per_s = 20;
  // Rate limits on what a stranger can call (issue 14; README "Security"). Refused with 429 and
  // Retry-After (REST, upgrades) or onerror + 4429 (the voice socket). 0 turns a limit off.
  // Every HTTP request and WebSocket upgrade from one client address (IPv6: its /64), burst one
  // second's worth; /healthz is not counted (load balancers).
  std::uint32_t max_requests_per_s = 200;
  // Sessions opened from one client address (POST /Session, the voice socket's initiate), burst
  // one minute's worth: each is held in memory for its resume window.
  std::uint32_t max_sessions_per_min = 120;
  // REST requests naming one session (GET/DELETE /Session, TextEnteredEvent, SessionChatLogs),
  // burst one second's worth: the socket's max_text_messages_per_s, for the REST door.
  std::uint32_t max_session_requests_per_s = 20;
};

// How one kind of line is heard (issue 16): a browser's microphone (wideband, echo-cancelled
// by getUserMedia) and a phone line (8 kHz G.711, echo from the far end's handset or trunk)
// are tuned apart. Browser calls use the keys at server.speech's top level; phone calls use
// server.speech.phone, where each key left out is the browser's value.
struct LineSpeechConfig {
  std::uint32_t vad_hangover_ms = 600;  // this much quiet ends the user's turn, 100..5000
  std::uint32_t vad_onset_ms = 30;      // this much speech starts it, 10..500
  std::uint32_t vad_threshold_db = 12;  // above the noise floor, 3..40
  // While the agent talks, user audio counts only when it is louder than the agent's own
  // output level plus this (dB, -40..20). A browser's echo canceller (on by default in
  // getUserMedia) leaves the agent's voice 30 dB down or more; -18 keeps such residue out
  // with room to spare and lets a user at an ordinary level through at once. Without an
  // echo canceller (a loudspeaker next to the microphone, echo ~10-20 dB down) raise it.
  std::int32_t echo_gate_db = -18;
  std::uint32_t echo_tail_ms = 300;     // the gate stays up this long after our last frame
  std::uint32_t max_utterance_s = 15;   // a longer turn is ended there, 1..120
};

// Speech on /v1/voice (issue 5): the user's audio is recognised (pocketsphinx), the agent's
// replies are spoken (espeak-ng). Engines run on `workers` threads, never on the io thread.
struct SpeechConfig {
  bool enabled = true;  // false: every call is text-only, as before speech existed
  // pocketsphinx model: <model_dir>/en-us (acoustic model), en-us.lm.bin, cmudict-en-us.dict
  // (Debian's pocketsphinx-en-us). Missing files are reported at start; calls go text-only.
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";
  bool keyword_hints = true;            // the agents' rule words and custom_vocabulary
  // How much the hint words are favoured: their model's share when it is interpolated with the
  // general one, above 0 and below 1 (see speech/pocketsphinx_recognizer.cpp).
  double hint_weight = 0.05;
  // The recognizer knows this many of the general model's most likely words (plus the hint
  // words); 0 = all 72,547. Fewer words recognise faster (see bench/speech), 0..200000.
  std::uint32_t vocabulary = 10000;
  std::uint32_t workers = 2;            // engine threads, 1..64
  std::uint32_t queue_limit = 256;      // jobs waiting for a worker, 1..100000
  std::uint32_t max_decoders = 8;       // recognisers alive at once (~150 MB each), 1..256
  LineSpeechConfig browser;  // the line keys at server.speech's top level
  LineSpeechConfig phone;    // server.speech.phone (each key absent there: the browser's)
  // Finished syntheses kept for reuse (the same text in the same voice is not synthesised
  // again: a greeting whose filled text is the same for every caller), in MiB, 0..4096;
  // 0 = no cache.
  std::uint32_t synth_cache_mb = 32;
  // Distinct syntheses that may wait for the engine, 1..100000; a reply beyond that is
  // answered in text only (counted in parley_speech_synth_backlog_full_total).
  std::uint32_t synth_backlog = 2000;
};

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";  // ADDR:PORT (port 0 = ephemeral)
  std::string database = "parley.db";     // SQLite file (":memory:" for throwaway)
  std::string web_root;    // static files (web/); relative paths are relative to the config file
  std::string wasm_root;   // the SDK build output, served under /sdk/
  std::string admin_key;   // guards /admin/*; empty = admin routes disabled
  std::string log_level = "info";  // debug, info, warn, error
  std::uint32_t webhook_max_attempts = 8;
  // Server API keys for the Millis REST routes (DESIGN §3b: /call-logs, start_outbound_call),
  // sent as `Authorization: <key>`. Empty: those routes answer 401.
  std::vector<std::string> api_keys;
  // A voice call that dropped (connection_lost) and comes back within this many seconds is the
  // same call: same session id, no greeting, one report at its real end (DESIGN §3).
  std::uint32_t reconnect_grace_s = 60;
  // Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client, for the
  // per-address limits and logs (trusted_proxies.hpp). Empty: the TCP peer is the client.
  std::vector<std::string> trusted_proxies;
  // Several hosts on one PostgreSQL (README, Running several hosts). The pool of database
  // threads, each with its own connection (SQLite runs inline and ignores both), 1..64:
  std::uint32_t database_threads = 4;
  // jobs waiting per database thread before new work is refused with db_busy, 1..1000000:
  std::uint32_t database_queue_per_thread = 1024;
  // A live call's lease: lapses this long after its host stops renewing (then another host's
  // sweep may end the session), 1000..600000; renewed every call_lease_renew_ms, at most half
  // the lease so that one late heartbeat does not let it lapse.
  std::uint32_t call_lease_ms = 20000;
  std::uint32_t call_lease_renew_ms = 5000;
  // How long a claimed outbox batch is this host's alone; above one delivery's 10 s timeout
  // (a live host marks its items before the claim lapses), 15000..86400000. On PostgreSQL.
  std::uint32_t outbox_claim_ms = 60000;
  ServerLimits limits;
  SpeechConfig speech;
  SipConfig sip;  // phone calls (DESIGN §11); parley/host/sip_config.hpp
};

struct HostConfig {
  ServerConfig server;
  std::vector<AgentConfig> agents;  // at least one; ids unique

  const AgentConfig* find_agent(std::string_view agent_id) const;
  const AgentConfig* agent_for_number(std::string_view number) const;  // phone_numbers
};

// One key of the file, for the reference: its path ("agents[].flow.response_delay"), its rule
// in words, and its default (JSON text; empty for keys without one). From the same tables the
// parser reads, so it lists exactly the keys a file may use.
struct ConfigKey {
  std::string path;
  std::string rule;
  std::string default_value;
};
std::vector<ConfigKey> config_reference();

// The agent a call runs with when its `initiate` carries agent_config (DESIGN §3): `base` with
// the fields of `overrides` read by the rules of the config file. Error code
// "bad_agent_config", the message naming the field ("agent.agent_config.voice.provider: ..."):
// not an object, an unknown field, a field that can never be overridden (a URL or a secret,
// or the agent's identity, access or data policy), a field the agent does not list in
// allow_overrides, or a value that breaks the field's rule.
Result<AgentConfig> apply_agent_config(const AgentConfig& base, const json& overrides);

// The agent's settings as JSON, for reports (the end-of-call webhook's and the call logs'
// `agent_config`): every field but the secret ones (keys, the secret, webhook and custom-LLM
// URLs and headers).
json agent_config_json(const AgentConfig& agent);

// Parses and checks the whole file. `base_dir` resolves relative web_root / wasm_root / db
// paths (the config file's own directory; empty = as given).
Result<HostConfig> parse_host_config(std::string_view text, std::string_view base_dir = {});
// Reads the file (error "config_unreadable" names the path) and parses it.
Result<HostConfig> load_host_config(const std::string& path);

// "ADDR:PORT" → parts; error "bad_listen" names the value. IPv6 as "[::1]:8080".
struct ListenAddress {
  std::string address;
  std::uint16_t port = 0;
};
Result<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace parley::host
