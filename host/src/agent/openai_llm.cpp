// The conversation with an OpenAI-compatible chat-completions server (DESIGN §13, issue 15):
// OpenAI, Ollama, llama.cpp's server, vLLM.
//
// One turn: POST <base_url>/chat/completions with the whole message history, stream: true;
// the SSE stream is read as it comes (openai_stream.hpp) and every content piece goes to the
// caller at once (TurnHooks::text), so speech can start on the first sentence. When the model
// calls tools, they run through the agent's tool path (call_tool: metadata-named parameters
// filled, the webhook called), each result goes to the caller (TurnHooks::action) and back to
// the model as a `tool` message, and the model is asked again: at most max_tool_rounds times,
// after which tools are no longer offered, so the model has to answer in words.
//
// The history is plain data (OpenAI's message objects, state()): it starts with the system
// prompt (assembled as for every agent: template, metadata section when asked, the
// prefetch's extra prompt) and the lines of the sessions this one continues, with the tool
// rounds stored beside them (ToolRound: each after the user's line of its turn, and the
// agent's line after them keeps only what was said after the last round, as it was live).
// Each round is handed to the caller to store as soon as it is complete
// (TurnHooks::tool_round), so a turn cut by a host dying keeps its tool state too. Barge-in
// (interrupt) closes the HTTP stream at once, so the server stops generating, and the
// history keeps only what the user heard.
//
// Failures a person can act on (unreachable, 401/403, model not found, 429 with Retry-After,
// a stream cut in the middle, a timeout) are logged once per conversation and kind with the
// cause, counted by kind, and the caller hears the agent's fallback_reply; the next turn tries
// again (after a 429, not before Retry-After has passed). The API key comes from the
// environment variable the config names; it is sent only in the Authorization header and
// scrubbed from anything an upstream says back before it is logged.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/url/parse.hpp>

#include "agent_internal.hpp"
#include "openai_stream.hpp"
#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "parley/templates.hpp"
#include "sse_parser.hpp"

namespace parley::host::agent_detail {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr int max_tool_rounds = 4;                   // tool rounds per turn
constexpr std::size_t max_turn_text = 1024 * 1024;   // a reply is never cut before this
constexpr std::size_t max_error_body = 16 * 1024;    // of a non-2xx reply, kept for the message
constexpr std::size_t max_json_body = 4 * 1024 * 1024;  // a server that ignores stream: true
constexpr std::size_t max_sse_event = 1024 * 1024;   // one chunk of the stream
constexpr std::uint32_t max_connect_ms = 10000;

std::int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// One line of text from whatever a server sent as an error body.
std::string error_body_text(const std::string& body) {
  auto parsed = parse_json(body, "error reply");
  if (parsed && parsed->is_object()) {
    const json& obj = *parsed;
    if (obj.contains("error") && !obj["error"].is_null()) return upstream_error_text(obj["error"]);
    for (const char* key : {"message", "detail"}) {
      if (obj.contains(key) && !obj[key].is_null()) return upstream_error_text(obj[key]);
    }
  }
  std::string text;
  for (char c : body.substr(0, 200)) text += (c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text.empty() ? std::string("(no body)") : text;
}

// Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Seconds from now; -1 if bad.
std::int64_t retry_after_seconds(const std::string& value) {
  if (value.empty()) return -1;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return 24 * 3600;
    return std::min<std::int64_t>(std::stoll(value), 24 * 3600);
  }
  std::tm tm{};
  if (strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return -1;
  const std::int64_t at = static_cast<std::int64_t>(timegm(&tm));
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  return std::clamp<std::int64_t>(at - now, 0, 24 * 3600);
}

// The agent's tools as OpenAI `tools`. A parameter named like a key of this session's
// metadata is filled from the metadata (DESIGN §6), so the model is not asked for it.
json openai_tools(const AgentConfig& agent, const json& metadata) {
  json tools = json::array();
  for (const ToolConfig& tool : agent.tools) {
    json parameters = tool.parameters.is_object() && !tool.parameters.empty()
                          ? tool.parameters
                          : json{{"type", "object"}, {"properties", json::object()}};
    if (metadata.is_object() && parameters.contains("properties") &&
        parameters["properties"].is_object()) {
      json& properties = parameters["properties"];
      for (auto it = metadata.begin(); it != metadata.end(); ++it) properties.erase(it.key());
      if (parameters.contains("required") && parameters["required"].is_array()) {
        json required = json::array();
        for (const json& name : parameters["required"]) {
          if (!name.is_string() || !metadata.contains(name.get<std::string>())) {
            required.push_back(name);
          }
        }
        parameters["required"] = std::move(required);
      }
    }
    json function = {{"name", tool.name}, {"parameters", std::move(parameters)}};
    if (!tool.description.empty()) function["description"] = tool.description;
    tools.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  return tools;
}

// A tool result's JSON text as the model sees it: at most kMaxToolResultBytes, cut at a
// UTF-8 character boundary, with a note saying what was left out.
std::string bounded_result(std::string text) {
  if (text.size() <= kMaxToolResultBytes) return text;
  const std::size_t whole = text.size();
  std::size_t cut = kMaxToolResultBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text += " [cut: the tool's result was " + std::to_string(whole) + " bytes; only the first " +
          std::to_string(cut) + " are kept]";
  return text;
}

// A stored round is used only as the wire needs it: an assistant message with tool_calls,
// then exactly one tool message per call id. Anything else (damage) is left out whole.
bool has_string(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_string();
}

bool usable_round(const json& messages) {
  if (!messages.is_array() || messages.size() < 2) return false;
  const json& call = messages[0];
  if (!has_string(call, "role") || call["role"] != "assistant" || !call.contains("tool_calls") ||
      !call["tool_calls"].is_array() || call["tool_calls"].size() != messages.size() - 1) {
    return false;
  }
  std::set<std::string> ids;
  for (const json& c : call["tool_calls"]) {
    if (!has_string(c, "id")) return false;
    ids.insert(c["id"].get<std::string>());
  }
  for (std::size_t i = 1; i < messages.size(); ++i) {
    const json& m = messages[i];
    if (!has_string(m, "role") || m["role"] != "tool" || !has_string(m, "tool_call_id") ||
        ids.erase(m["tool_call_id"].get<std::string>()) != 1) {
      return false;
    }
  }
  return ids.empty();
}

struct Turn {
  std::uint64_t id = 0;
  TurnHooks hooks;
  std::function<void(AgentReply)> done;
  std::string text;          // everything said this turn, all rounds
  std::vector<AgentAction> actions;
  int round = 0;
  bool over = false;
  // The request in flight.
  std::shared_ptr<HttpCall> call;
  std::unique_ptr<SseParser> sse;
  std::unique_ptr<ChatStreamDecoder> decoder;
  unsigned status = 0;
  bool head = false;
  bool event_stream = true;
  std::string raw;           // an error body, or a whole JSON reply
  std::string retry_after;
  std::string round_text;    // this request's content
  bool saw_done = false;
  bool got_event = false;    // any chunk of the stream arrived
  std::optional<std::string> finish_reason;
  Clock::time_point sent_at{};
  bool first_token = false;
  // Tools of the last round: the assistant message that called them, the calls, and their
  // tool messages as they come.
  json call_message;
  std::vector<StreamedToolCall> calls;
  std::vector<json> tool_messages;
  std::size_t tools_pending = 0;
};

class OpenAiConversation final : public Conversation,
                                 public std::enable_shared_from_this<OpenAiConversation> {
 public:
  OpenAiConversation(asio::io_context& io, HttpClient& http, ConversationContext context)
      : io_(io), http_(http), context_(std::move(context)), llm_(*context_.agent->llm) {
    variables_ = template_variables(context_);
    prompt_ = assemble_system_prompt(*context_.agent, variables_, context_.metadata,
                                     context_.include_metadata_in_prompt,
                                     context_.extra_prompt);
    url_ = llm_.base_url + "/chat/completions";
    if (auto parsed = boost::urls::parse_uri(url_)) {
      host_ = std::string(parsed->encoded_host_and_port());
    } else {
      host_ = llm_.base_url;
    }
    if (!llm_.api_key_env.empty()) {
      if (const char* key = std::getenv(llm_.api_key_env.c_str())) api_key_ = key;
    }
    tools_ = openai_tools(*context_.agent, context_.metadata);
    load_history();
  }

  void start(std::function<void(Status)> done) override {
    asio::post(io_, [done = std::move(done)] { done(ok_status()); });
  }

  void respond(std::string user_text, TurnHooks hooks,
               std::function<void(AgentReply)> done) override {
    if (turn_ && !turn_->over) {
      // A newer turn cuts this one; the caller did not say what was heard: all of it.
      std::string said = turn_->text;
      interrupt(std::move(said));
    }
    messages_.push_back({{"role", "user"}, {"content", std::move(user_text)}});
    last_reply_ = -1;
    auto turn = std::make_shared<Turn>();
    turn->id = ++turns_;
    turn->hooks = std::move(hooks);
    turn->done = std::move(done);
    turn_ = turn;
    if (closed_) return fail(turn, "", "", false);
    const auto now = Clock::now();
    if (now < blocked_until_) {
      return fail(turn, "llm_rate_limited",
                  "the LLM at " + host_ + " is rate limited for " +
                      std::to_string(ms_between(now, blocked_until_) / 1000 + 1) +
                      " s more (Retry-After); not asked",
                  true);
    }
    send_request(turn);
  }

  void interrupt(std::string heard) override {
    if (turn_ && !turn_->over) {
      auto turn = turn_;
      turn->over = true;
      if (turn->call) turn->call->cancel();  // the server sees the connection close now
      turn->call.reset();
      // Tools that were running: their results will not come; the model must still see an
      // answer for every call it made.
      if (turn->tools_pending > 0) {
        for (std::size_t i = 0; i < turn->calls.size(); ++i) {
          if (turn->tool_messages[i].is_null()) {
            turn->tool_messages[i] = tool_message(
                turn->calls[i].id, json{{"error", "the user interrupted before the result came"}});
          }
        }
        close_round(turn);
      }
      // Earlier rounds of this turn are in the history already; this round keeps what of it
      // was heard.
      const std::size_t before = turn->text.size() - turn->round_text.size();
      std::string heard_now = heard.size() > before ? heard.substr(before) : std::string();
      if (!heard_now.empty()) {
        messages_.push_back({{"role", "assistant"}, {"content", heard_now}});
        last_reply_ = static_cast<std::int64_t>(messages_.size()) - 1;
      }
      AgentReply reply;
      reply.text = turn->text;
      reply.actions = std::move(turn->actions);
      reply.interrupted = true;
      deliver(turn, std::move(reply));
      return;
    }
    // The reply is complete but was being spoken: the history keeps what was heard.
    if (last_reply_ < 0 || last_reply_ >= static_cast<std::int64_t>(messages_.size())) return;
    json& message = messages_[static_cast<std::size_t>(last_reply_)];
    if (heard.empty()) {
      messages_.erase(messages_.begin() + last_reply_);
      last_reply_ = -1;
    } else {
      message["content"] = std::move(heard);
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    if (turn_ && !turn_->over) {
      auto turn = turn_;
      turn->over = true;
      if (turn->call) turn->call->cancel();
      turn->call.reset();
      AgentReply reply;
      reply.text = turn->text.empty() ? fallback_text() : turn->text;
      reply.fallback = turn->text.empty();
      reply.interrupted = true;
      reply.actions = std::move(turn->actions);
      deliver(turn, std::move(reply));
    }
  }

  const std::string& system_prompt() const override { return prompt_; }

  json state() const override { return request_messages(); }

 private:
  json request_messages() const {
    json all = json::array();
    if (!prompt_.empty()) all.push_back({{"role", "system"}, {"content", prompt_}});
    for (const auto& m : messages_) all.push_back(m);
    return all;
  }

  static json tool_message(const std::string& id, const json& content) {
    return {{"role", "tool"}, {"tool_call_id", id}, {"content", bounded_result(to_json_text(content))}};
  }

  // The stored past: each line, and after it the tool rounds of its turn. The agent's line of
  // a turn with tool rounds holds everything said in the turn; the rounds' messages carry what
  // was said before each call, so the line's message keeps only what came after the last one
  // (none at all when nothing did), as the conversation had it live.
  void load_history() {
    std::map<std::pair<std::string, std::int64_t>, std::vector<const json*>> after;
    for (const ToolRound& round : context_.tool_rounds) {
      if (!usable_round(round.messages)) continue;
      after[{round.session_id, round.after_line}].push_back(&round.messages);
    }
    std::string said_in_rounds;  // of the turn whose rounds were just added
    for (const auto& line : context_.history) {
      if (!line.text.empty()) {  // else an interrupted line whose text was dropped
        std::string text = line.text;
        if (!line.inbound && !said_in_rounds.empty() &&
            text.compare(0, said_in_rounds.size(), said_in_rounds) == 0) {
          text.erase(0, said_in_rounds.size());
        }
        if (!text.empty()) messages_.push_back({{"role", line.inbound ? "user" : "assistant"}, {"content", std::move(text)}});
      }
      said_in_rounds.clear();
      auto rounds = after.find({line.session_id, line.seq});
      if (rounds == after.end()) continue;
      for (const json* messages : rounds->second) {
        const json& call = (*messages)[0];
        if (has_string(call, "content")) said_in_rounds += call["content"].get<std::string>();
        for (const json& m : *messages) messages_.push_back(m);
      }
    }
  }

  // The round's calls all have their tool message: into the history, and to the caller to
  // store.
  void close_round(const std::shared_ptr<Turn>& turn) {
    json round = json::array();
    round.push_back(turn->call_message);
    for (auto& m : turn->tool_messages) {
      round.push_back(m);
      messages_.push_back(std::move(m));
    }
    turn->tool_messages.clear();
    turn->tools_pending = 0;
    if (auto hook = turn->hooks.tool_round) hook(round);
  }

  bool current(const std::shared_ptr<Turn>& turn) const {
    return turn && turn_ == turn && !turn->over;
  }

  // ---- one request -----------------------------------------------------------------------

  void send_request(const std::shared_ptr<Turn>& turn) {
    json body = {{"model", llm_.model},
                 {"messages", request_messages()},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}}};
    if (llm_.temperature) body["temperature"] = *llm_.temperature;
    if (llm_.max_tokens) body["max_tokens"] = *llm_.max_tokens;
    if (!tools_.empty() && turn->round < max_tool_rounds) body["tools"] = tools_;

    turn->sse = std::make_unique<SseParser>(max_sse_event);
    turn->decoder = std::make_unique<ChatStreamDecoder>();
    turn->status = 0;
    turn->head = false;
    turn->event_stream = true;
    turn->raw.clear();
    turn->retry_after.clear();
    turn->round_text.clear();
    turn->saw_done = false;
    turn->got_event = false;
    turn->finish_reason.reset();
    turn->first_token = false;

    HttpStreamRequest request;
    request.url = url_;
    request.method = "POST";
    request.body = to_json_text(body);
    request.accept = "text/event-stream";
    if (!api_key_.empty()) request.headers.emplace_back("Authorization", "Bearer " + api_key_);
    request.connect_timeout_ms = std::min(llm_.timeout_ms, max_connect_ms);
    request.idle_timeout_ms = llm_.timeout_ms;
    request.replayable = true;  // asking again when nothing came back is harmless

    std::weak_ptr<OpenAiConversation> weak = weak_from_this();
    HttpStreamHandlers handlers;
    handlers.on_head = [weak, turn](const HttpStreamHead& head) {
      auto self = weak.lock();
      if (self && self->current(turn)) self->on_head(turn, head);
    };
    handlers.on_data = [weak, turn](std::string_view piece) {
      auto self = weak.lock();
      if (self && self->current(turn)) self->on_data(turn, piece);
    };
    handlers.on_end = [weak, turn](Status status) {
      auto self = weak.lock();
      if (self && self->current(turn)) self->on_end(turn, std::move(status));
    };
    turn->sent_at = Clock::now();
    if (context_.metrics) ++context_.metrics->llm_requests;
    turn->call = http_.stream(std::move(request), std::move(handlers));
  }

  void on_head(const std::shared_ptr<Turn>& turn, const HttpStreamHead& head) {
    turn->head = true;
    turn->status = head.status;
    turn->retry_after = head.header("retry-after");
    const std::string type = head.header("content-type");
    // A server that ignored stream: true answers with the whole completion as JSON.
    turn->event_stream = type.find("application/json") == std::string::npos;
  }

  void on_data(const std::shared_ptr<Turn>& turn, std::string_view piece) {
    if (turn->status < 200 || turn->status > 299) {
      const std::size_t room = max_error_body - std::min(max_error_body, turn->raw.size());
      turn->raw.append(piece.substr(0, room));
      return;
    }
    if (!turn->event_stream) {
      if (turn->raw.size() + piece.size() > max_json_body) {
        return fail(turn, "llm_bad_reply",
                    "the LLM at " + host_ + " sent a non-streamed reply over 4 MiB", true);
      }
      turn->raw.append(piece);
      return;
    }
    auto status = turn->sse->feed(piece, [&](SseEvent& event) { on_event(turn, event); });
    if (!status && current(turn)) {
      fail(turn, "llm_bad_stream",
           "the stream from the LLM at " + host_ + " broke a limit: " + status.error().message,
           true);
    }
  }

  void on_event(const std::shared_ptr<Turn>& turn, const SseEvent& event) {
    if (!current(turn)) return;
    turn->got_event = true;
    ChatStreamDecoder::Piece piece = turn->decoder->apply(event);
    if (piece.error) {
      return fail(turn, "llm_upstream_error",
                  "the LLM at " + host_ + " reported an error in its stream: " +
                      piece.error->message,
                  true);
    }
    if (!piece.content.empty()) add_text(turn, piece.content);
    if (piece.finish_reason) turn->finish_reason = piece.finish_reason;
    if (piece.done) turn->saw_done = true;
  }

  void add_text(const std::shared_ptr<Turn>& turn, std::string_view text) {
    if (!current(turn) || text.empty()) return;
    if (!turn->first_token) {
      turn->first_token = true;
      if (context_.metrics) {
        context_.metrics->llm_first_token.observe_us(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - turn->sent_at)
                .count()));
      }
    }
    if (turn->text.size() + text.size() > max_turn_text) {
      log_once("llm_reply_too_long", "the LLM at " + host_ + " wrote more than 1 MiB in one turn; "
                                     "the rest is not spoken");
      return;
    }
    turn->text.append(text);
    turn->round_text.append(text);
    if (auto hook = turn->hooks.text) hook(text);
  }

  void on_end(const std::shared_ptr<Turn>& turn, Status status) {
    turn->call.reset();
    const bool ok_status_code = turn->status >= 200 && turn->status <= 299;
    if (!status) {
      const Error& e = status.error();
      if (e.code == "http_connect") {
        return fail(turn, "llm_unreachable", "the LLM at " + host_ + " is unreachable: " + e.message, true);
      }
      if (e.code == "http_timeout") {
        if (turn->head && ok_status_code && turn->got_event) {
          return fail(turn, "llm_stream_cut",
                      "the stream from the LLM at " + host_ + " stopped in the middle of the "
                      "answer for more than " + std::to_string(llm_.timeout_ms) +
                          " ms (llm.timeout_ms)",
                      true);
        }
        return fail(turn, "llm_timeout", "the LLM at " + host_ + " did not answer: " + e.message +
                                             " (llm.timeout_ms)", true);
      }
      if (e.code == "http_cut" && turn->head && ok_status_code) {
        return fail(turn, "llm_stream_cut",
                    "the LLM at " + host_ + " closed the stream in the middle of the answer (" +
                        std::to_string(turn->round_text.size()) + " bytes of text had come)",
                    true);
      }
      if (e.code == "http_bad_url") return fail(turn, "llm_bad_url", e.message, true);
      return fail(turn, "llm_io", "talking to the LLM at " + host_ + " failed: " + e.message, true);
    }
    if (!ok_status_code) return fail_status(turn);
    if (!turn->event_stream) {
      SseEvent whole;
      whole.data = std::move(turn->raw);
      on_event(turn, whole);
      if (!current(turn)) return;
      turn->saw_done = true;
    } else {
      turn->sse->finish([&](SseEvent& event) { on_event(turn, event); });
      if (!current(turn)) return;
    }
    add_text(turn, turn->decoder->finish_content());
    const ChatUsage& usage = turn->decoder->usage();
    if (context_.metrics) {
      if (usage.prompt_tokens > 0) context_.metrics->llm_tokens_in += static_cast<std::uint64_t>(usage.prompt_tokens);
      if (usage.completion_tokens > 0) context_.metrics->llm_tokens_out += static_cast<std::uint64_t>(usage.completion_tokens);
    }
    if (turn->decoder->bad_chunks() > 0) {
      log_once("llm_bad_chunks", "the LLM at " + host_ + " sent " +
                                     std::to_string(turn->decoder->bad_chunks()) +
                                     " unusable chunk(s), skipped; the first: " +
                                     turn->decoder->first_problem());
    }
    if (!turn->saw_done && !turn->finish_reason) {
      return fail(turn, "llm_stream_cut",
                  "the LLM at " + host_ + " ended its stream before the answer was complete "
                  "(no finish_reason, no [DONE])",
                  true);
    }
    if (turn->decoder->has_tool_calls()) return run_tools(turn);
    finish(turn);
  }

  void fail_status(const std::shared_ptr<Turn>& turn) {
    const unsigned code = turn->status;
    const std::string said = scrub(error_body_text(turn->raw));
    const std::string http = " (HTTP " + std::to_string(code) + "): " + said;
    if (code == 401 || code == 403) {
      std::string key_hint;
      if (llm_.api_key_env.empty()) {
        key_hint = "; no key is sent (llm.api_key_env is not set)";
      } else if (api_key_.empty()) {
        key_hint = "; the environment variable " + llm_.api_key_env + " is not set";
      } else {
        key_hint = "; check the key in the environment variable " + llm_.api_key_env;
      }
      return fail(turn, "llm_unauthorized",
                  "the LLM at " + host_ + " refused the key" + http + key_hint, true);
    }
    if (code == 404) {
      return fail(turn, "llm_model_not_found",
                  "the LLM at " + host_ + " does not know model \"" + llm_.model + "\" or the path " +
                      url_path() + http + "; check llm.model and llm.base_url",
                  true);
    }
    if (code == 429) {
      const std::int64_t seconds = retry_after_seconds(turn->retry_after);
      if (seconds > 0) blocked_until_ = Clock::now() + std::chrono::seconds(seconds);
      return fail(turn, "llm_rate_limited",
                  "the LLM at " + host_ + " is rate limiting" + http +
                      (seconds >= 0 ? "; not asking again for " + std::to_string(seconds) +
                                          " s (Retry-After)"
                                    : std::string("; no Retry-After")),
                  true);
    }
    if (code >= 500) {
      return fail(turn, "llm_server_error", "the LLM at " + host_ + " failed" + http, true);
    }
    return fail(turn, "llm_refused", "the LLM at " + host_ + " refused the request" + http, true);
  }

  std::string url_path() const {
    auto parsed = boost::urls::parse_uri(url_);
    return parsed ? std::string(parsed->encoded_path()) : url_;
  }

  // ---- tools -------------------------------------------------------------------------------

  void run_tools(const std::shared_ptr<Turn>& turn) {
    turn->calls = turn->decoder->tool_calls();
    json calls = json::array();
    for (const auto& call : turn->calls) {
      calls.push_back({{"id", call.id},
                       {"type", "function"},
                       {"function", {{"name", call.name}, {"arguments", call.arguments_text}}}});
    }
    json assistant = {{"role", "assistant"},
                      {"content", turn->round_text.empty() ? json(nullptr) : json(turn->round_text)},
                      {"tool_calls", std::move(calls)}};
    turn->call_message = assistant;
    messages_.push_back(std::move(assistant));
    ++turn->round;
    turn->round_text.clear();
    turn->tool_messages.assign(turn->calls.size(), json());
    turn->tools_pending = turn->calls.size();
    for (std::size_t i = 0; i < turn->calls.size(); ++i) {
      const StreamedToolCall& call = turn->calls[i];
      const ToolConfig* tool = context_.agent->find_tool(call.name);
      if (!call.error.empty() || tool == nullptr) {
        AgentAction action;
        action.name = call.name;
        action.arguments = call.arguments;
        action.result = nullptr;
        action.error = !call.error.empty()
                           ? call.error
                           : "the agent has no tool named \"" + call.name.substr(0, 64) + "\"";
        asio::post(io_, [self = shared_from_this(), turn, i, action = std::move(action)]() mutable {
          self->tool_done(turn, i, std::move(action));
        });
        continue;
      }
      call_tool(io_, http_, *tool, context_.agent->id, context_.session_id, call.arguments,
                context_.metadata, [self = shared_from_this(), turn, i](AgentAction action) {
                  self->tool_done(turn, i, std::move(action));
                });
    }
  }

  void tool_done(const std::shared_ptr<Turn>& turn, std::size_t i, AgentAction action) {
    if (!current(turn) || i >= turn->tool_messages.size()) return;
    if (auto hook = turn->hooks.action) hook(action);
    if (!current(turn)) return;
    const json content = action.error.empty() ? action.result : json{{"error", action.error}};
    turn->tool_messages[i] = tool_message(turn->calls[i].id, content);
    turn->actions.push_back(std::move(action));
    if (--turn->tools_pending > 0) return;
    close_round(turn);
    send_request(turn);
  }

  // ---- ending a turn -----------------------------------------------------------------------

  void finish(const std::shared_ptr<Turn>& turn) {
    turn->over = true;
    AgentReply reply;
    reply.actions = std::move(turn->actions);
    if (turn->text.empty()) {
      // The model said nothing (e.g. it ran out of max_tokens while thinking).
      reply.text = fallback_text();
      reply.fallback = true;
      if (auto hook = turn->hooks.text) hook(reply.text);
    } else {
      reply.text = turn->text;
    }
    const std::string& kept = turn->round_text.empty() && turn->text.empty() ? reply.text
                                                                              : turn->round_text;
    if (!kept.empty()) {
      messages_.push_back({{"role", "assistant"}, {"content", kept}});
      last_reply_ = static_cast<std::int64_t>(messages_.size()) - 1;
    }
    deliver(turn, std::move(reply));
  }

  // The turn ends in the fallback: said after whatever was said already. `kind` "" = no
  // error to report (the conversation was closed).
  void fail(const std::shared_ptr<Turn>& turn, const std::string& kind, const std::string& why,
            bool report) {
    if (!current(turn)) return;
    turn->over = true;
    if (turn->call) turn->call->cancel();
    turn->call.reset();
    if (report && !kind.empty()) {
      if (context_.metrics) context_.metrics->llm_error(kind);
      log_once(kind, scrub(why));
    }
    if (turn->tools_pending > 0) {  // cannot happen while a request is in flight; be safe
      for (std::size_t i = 0; i < turn->calls.size(); ++i) {
        if (turn->tool_messages[i].is_null()) {
          turn->tool_messages[i] = tool_message(turn->calls[i].id, json{{"error", "not run"}});
        }
      }
      close_round(turn);
    }
    const std::string fallback = fallback_text();
    const std::string piece = turn->text.empty() ? fallback : " " + fallback;
    if (auto hook = turn->hooks.text) hook(piece);
    AgentReply reply;
    reply.text = turn->text + piece;
    reply.fallback = true;
    reply.actions = std::move(turn->actions);
    // What the user heard of this round, and the fallback, is the agent's line.
    messages_.push_back({{"role", "assistant"}, {"content", turn->round_text + piece}});
    last_reply_ = static_cast<std::int64_t>(messages_.size()) - 1;
    deliver(turn, std::move(reply));
  }

  void deliver(const std::shared_ptr<Turn>& turn, AgentReply reply) {
    auto done = std::move(turn->done);
    turn->done = nullptr;
    turn->hooks = {};
    if (!done) return;
    asio::post(io_, [done = std::move(done), reply = std::move(reply)]() mutable {
      done(std::move(reply));
    });
  }

  // Each kind of failure is logged at warn the first time in a conversation (the cause a
  // person can act on), after that at debug: a dead upstream does not flood the log.
  void log_once(const std::string& kind, const std::string& message) {
    const bool first = logged_.insert(kind).second;
    const LogLevel level = first ? LogLevel::warn : LogLevel::debug;
    if (!log_enabled(level)) return;
    log_event(level, "llm.error",
              "agent=" + context_.agent->id + " session=" + short_id(context_.session_id) +
                  " kind=" + kind + " " + message);
  }

  // Nothing an upstream says back is logged with the key in it.
  std::string scrub(std::string text) const {
    if (api_key_.size() < 4) return text;
    for (std::size_t at = text.find(api_key_); at != std::string::npos;
         at = text.find(api_key_, at)) {
      text.replace(at, api_key_.size(), "[key]");
    }
    return text;
  }

  std::string fallback_text() const {
    std::string text = fill_template(context_.agent->fallback_reply, variables_).text;
    return text.empty() ? std::string("Sorry, I did not understand that.") : text;
  }

  asio::io_context& io_;
  HttpClient& http_;
  ConversationContext context_;
  const LlmConfig& llm_;
  json variables_;
  std::string prompt_;
  std::string url_;
  std::string host_;
  std::string api_key_;
  json tools_;
  json messages_ = json::array();   // without the system prompt
  std::int64_t last_reply_ = -1;    // the last reply's message (for interrupt), or -1
  std::shared_ptr<Turn> turn_;
  std::uint64_t turns_ = 0;
  bool closed_ = false;
  Clock::time_point blocked_until_{};
  std::set<std::string> logged_;
};

}  // namespace

std::shared_ptr<Conversation> make_openai_conversation(asio::io_context& io, HttpClient& http,
                                                       ConversationContext context) {
  return std::make_shared<OpenAiConversation>(io, http, std::move(context));
}

}  // namespace parley::host::agent_detail
