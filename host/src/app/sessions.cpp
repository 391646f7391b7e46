#include "sessions.hpp"

#include <set>

#include <chrono>
#include <utility>

#include <boost/asio/post.hpp>

#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "parley/metadata.hpp"
#include "parley/templates.hpp"

namespace parley::host {

std::int64_t now_epoch_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// Names from strangers go into messages quoted and cut, so a message stays one short line.
std::string quote_name(std::string_view text) {
  constexpr std::size_t max = 64;
  std::string out = "'";
  out += text.size() > max ? std::string(text.substr(0, max)) + "..." : std::string(text);
  out += "'";
  return out;
}

std::int64_t window_ms(const AgentConfig& agent) {
  return static_cast<std::int64_t>(agent.resume_window_s) * 1000;
}
std::int64_t retention_ms(const AgentConfig& agent) {
  return static_cast<std::int64_t>(agent.retention_s) * 1000;
}

bool deleted(const SessionRecord& s) { return s.end_reason == "deleted"; }

// What templates see: Memori context vars, then metadata (the page's data) over them.
json merge_variables(const json& context_vars, const json& metadata) {
  json out = context_vars.is_object() ? context_vars : json::object();
  if (metadata.is_object())
    for (auto it = metadata.begin(); it != metadata.end(); ++it) out[it.key()] = it.value();
  return out;
}

}  // namespace

// What open() reads from the store, in one piece of work on a database thread.
struct SessionService::Lookup {
  std::optional<SessionRecord> past;
  bool asked = false;
  std::vector<ChatLine> history;
  std::vector<ToolRound> tool_rounds;
  // The past session's call was live on another host within the reconnect grace (that host
  // died or lost the client): a call coming back here is the same call going on.
  bool live_elsewhere = false;
};

SessionService::SessionService(boost::asio::io_context& io, const HostConfig& config,
                               AsyncStore& db, Metrics& metrics, HttpClient& http,
                               OutboxDeliverer& outbox)
    : io_(io),
      config_(config),
      db_(db),
      metrics_(metrics),
      http_(http),
      outbox_(outbox),
      openings_(config.server.limits.max_sessions_per_min / 60.0,
                config.server.limits.max_sessions_per_min),
      grace_ms_(static_cast<std::int64_t>(config.server.reconnect_grace_s) * 1000),
      lease_ms_(config.server.call_lease_ms) {}

std::uint32_t SessionService::session_opening_wait(const std::string& remote) {
  const std::uint32_t wait = openings_.take(client_address_key(remote));
  if (wait > 0) metrics_.limited("sessions_per_address");
  return wait;
}

std::string SessionService::session_opening_refusal(std::uint32_t wait_s) const {
  return "too many sessions opened from this address: at most " +
         std::to_string(config_.server.limits.max_sessions_per_min) +
         " a minute (limits.max_sessions_per_min); retry in " + std::to_string(wait_s) + " s";
}

bool SessionService::owns(const Owner& who, const SessionRecord& s, std::int64_t now_ms) const {
  const AgentConfig* agent = config_.find_agent(s.agent_id);
  if (!agent || deleted(s)) return false;
  if (now_ms - s.last_activity_ms >= retention_ms(*agent)) return false;
  if (!who.agent_id.empty() && s.agent_id != who.agent_id) return false;
  if (!agent->origin_allowed(who.origin ? std::optional<std::string_view>(*who.origin)
                                        : std::nullopt))
    return false;
  if (!s.public_key.empty() && (!who.public_key || *who.public_key != s.public_key)) return false;
  if (!s.user_id.empty() && s.user_id != who.user_id) return false;
  return true;
}

Owner SessionService::owner_for(const Caller& caller, const AgentConfig& agent,
                                std::int64_t now_ms) const {
  Owner who;
  who.public_key = caller.public_key;
  who.origin = caller.origin;
  if (!caller.login_token.empty() && !agent.secret.empty()) {
    if (auto user = verify_login_token(agent.secret, caller.login_token, now_ms / 1000))
      who.user_id = user->user_id;
  }
  return who;
}

Error SessionService::not_found_error() { return make_error("not_found", "no such session"); }

Result<SessionRecord> SessionService::owned_session(Store& store, const std::string& session_id,
                                                    const Caller& caller,
                                                    std::int64_t now_ms) const {
  auto found = store.find_session(session_id);
  if (!found) return std::move(found).error();
  if (!found->has_value()) return not_found_error();
  const AgentConfig* agent = config_.find_agent((*found)->agent_id);
  if (!agent || !owns(owner_for(caller, *agent, now_ms), **found, now_ms))
    return not_found_error();
  return std::move(**found);
}

bool SessionService::live(const SessionRecord& session, std::int64_t now_ms) const {
  const AgentConfig* agent = config_.find_agent(session.agent_id);
  return agent && now_ms - session.last_activity_ms < window_ms(*agent);
}

Error SessionService::expired_error(const SessionRecord& session) const {
  const AgentConfig* agent = config_.find_agent(session.agent_id);
  return make_error("expired", "the session expired after " +
                                   std::to_string(agent ? agent->resume_window_s : 0) +
                                   " s without activity");
}

Result<std::optional<SessionRecord>> SessionService::find_owned(Store& store,
                                                                const std::string& session_id,
                                                                const Owner& who,
                                                                std::int64_t now_ms) const {
  auto found = store.find_session(session_id);
  if (!found) return std::move(found).error();
  if (!found->has_value() || !owns(who, **found, now_ms)) return std::optional<SessionRecord>();
  return found;
}

Result<std::vector<SessionRecord>> SessionService::owned_chain(Store& store,
                                                               const std::string& session_id,
                                                               const Owner& who,
                                                               std::int64_t now_ms) const {
  auto chain = store.session_chain(session_id);
  if (!chain) return chain;
  std::vector<SessionRecord> out;
  for (auto& link : *chain)
    if (owns(who, link, now_ms)) out.push_back(std::move(link));
  return out;
}

Result<std::vector<ChatLine>> SessionService::owned_history(Store& store,
                                                            const std::string& session_id,
                                                            const Owner& who,
                                                            std::int64_t now_ms,
                                                            std::vector<ToolRound>& tool_rounds) const {
  auto chain = owned_chain(store, session_id, who, now_ms);
  if (!chain) return std::move(chain).error();
  std::vector<ChatLine> history;
  for (const auto& link : *chain) {
    auto lines = store.lines_of(link.id);
    if (!lines) return std::move(lines).error();
    for (auto& line : *lines) history.push_back(std::move(line));
    auto rounds = store.tool_rounds_of(link.id);
    if (!rounds) return std::move(rounds).error();
    for (auto& round : *rounds) tool_rounds.push_back(std::move(round));
  }
  return history;
}

Result<std::vector<SessionRecord>> SessionService::owned_user_sessions(
    Store& store, UserLogQuery query, const Owner& who, std::uint32_t* total,
    std::int64_t now_ms) const {
  // The store pages by user; ownership (key, deletion, retention) is this service's rule, so
  // the whole list is read and paged here. A user's sessions are bounded by retention.
  constexpr std::uint32_t max_listed = 10000;
  const std::uint32_t from = query.from;
  const std::uint32_t how_many = query.how_many;
  query.from = 0;
  query.how_many = max_listed;
  auto all = store.user_sessions(query, nullptr);
  if (!all) return all;
  std::vector<SessionRecord> page;
  std::uint32_t count = 0;
  for (auto& s : *all) {
    if (!owns(who, s, now_ms)) continue;
    if (count >= from && page.size() < how_many) page.push_back(std::move(s));
    ++count;
  }
  if (total) *total = count;
  return page;
}

void SessionService::open(OpenRequest request,
                          std::function<void(Result<OpenedSession>)> done) {
  if (!db_.health().ok)
    return done(make_error("db_unavailable",
                           "the database is unreachable: this host takes no new sessions until "
                           "it is back; try again shortly"));
  const AgentConfig* agent = config_.find_agent(request.agent_id);
  if (!agent)
    return done(make_error("unknown_agent", "no agent with id " + quote_name(request.agent_id)));
  // The voice socket must present a key; REST may (then the session is bound to it).
  if (request.channel == "voice" && (!request.public_key || request.public_key->empty()))
    return done(make_error("bad_public_key", "public_key is required"));
  if (request.public_key && !agent->has_public_key(*request.public_key))
    return done(make_error("bad_public_key",
                           "public_key is not a key of agent " + quote_name(agent->id)));
  if (!agent->origin_allowed(request.origin ? std::optional<std::string_view>(*request.origin)
                                            : std::nullopt))
    return done(make_error("origin_not_allowed", "origin " + quote_name(*request.origin) +
                                                     " is not allowed for agent " +
                                                     quote_name(agent->id)));
  // The agent this session runs with: the configured one, or the call's agent_config over it
  // (refused before any database work when a field is not overridable).
  std::shared_ptr<const AgentConfig> effective(std::shared_ptr<const AgentConfig>(), agent);
  if (!request.agent_overrides.is_null()) {
    auto applied = apply_agent_config(*agent, request.agent_overrides);
    if (!applied) return done(std::move(applied).error());
    effective = std::make_shared<const AgentConfig>(std::move(*applied));
  }
  const std::int64_t opened_ms = now_epoch_ms();
  std::string user_id;
  if (!request.login_token.empty()) {
    if (agent->secret.empty())
      return done(make_error("token_no_secret", "agent " + quote_name(agent->id) +
                                                    " does not accept user tokens (no secret)"));
    auto user = verify_login_token(agent->secret, request.login_token,
                                   now_epoch_ms() / 1000);
    if (!user) return done(std::move(user).error());
    user_id = user->user_id;
  }

  // Which past session, if any, this one continues: only one the caller owns (the one rule,
  // `owns`); any other id continues nothing ("not_found"), whatever the reason. It and its
  // history are read on a database thread (the request and the agent are immutable; `owns`
  // reads only the config, which outlives the service).
  Owner who;
  who.agent_id = agent->id;
  who.public_key = request.public_key;
  who.user_id = user_id;
  who.origin = request.origin;
  const std::string key = !request.continue_session_id.empty() ? request.continue_session_id
                                                                : request.continue_chat_log_id;
  // (The work is built before the callback takes `request` by move: argument order is
  // unspecified.)
  auto lookup_work = [this, request, agent, user_id, who, opened_ms, grace = grace_ms_,
                      host = db_.host_id()](Store& store) -> Result<Lookup> {
    Lookup lookup;
    std::optional<SessionRecord>& past = lookup.past;
    if (!request.continue_chat_log_id.empty()) {
      lookup.asked = true;
      auto by_log = store.find_session_by_chat_log(request.continue_chat_log_id);
      if (!by_log) return std::move(by_log).error();
      if (by_log->has_value()) {
        auto owned = find_owned(store, (*by_log)->id, who, opened_ms);
        if (!owned) return std::move(owned).error();
        past = std::move(*owned);
      } else {
        auto line_of = store.session_of_line(request.continue_chat_log_id);
        if (!line_of) return std::move(line_of).error();
        if (line_of->has_value()) {
          auto owned = find_owned(store, **line_of, who, opened_ms);
          if (owned && owned->has_value())
            return make_error(
                "chat_line_id",
                "continueFromChatLogID names a chat line, not a chat log: use the "
                "chatLogID of the ChatLog that holds the line");
        }
      }
    } else if (!request.continue_session_id.empty()) {
      lookup.asked = true;
      auto owned = find_owned(store, request.continue_session_id, who, opened_ms);
      if (!owned) return std::move(owned).error();
      past = std::move(*owned);
    } else if (request.continue_latest_for_user && !user_id.empty()) {
      lookup.asked = true;
      // The user's latest session by last activity, among those the caller owns.
      UserLogQuery query;
      query.agent_id = agent->id;
      query.user_id = user_id;
      query.include_empty = true;
      auto mine = owned_user_sessions(store, query, who, nullptr, opened_ms);
      if (!mine) return std::move(mine).error();
      for (auto& s : *mine)
        if (!past || s.last_activity_ms > past->last_activity_ms) past = std::move(s);
    } else if (!request.continue_by_phone.empty()) {
      // Memory by phone: the number's latest call, if it has one the caller may see (within
      // retention), is continued; a number that never called opens a plain new session
      // ("not found" is for an id someone asked for).
      auto latest = store.latest_phone_session(agent->id, request.continue_by_phone);
      if (!latest) return std::move(latest).error();
      if (latest->has_value()) {
        auto owned = find_owned(store, (*latest)->id, who, opened_ms);
        if (!owned) return std::move(owned).error();
        past = std::move(*owned);
        lookup.asked = past.has_value();
      }
    }
    if (past) {
      auto holder = store.call_lease_holder(past->id, opened_ms - grace);
      if (!holder) return std::move(holder).error();
      lookup.live_elsewhere = holder->has_value() && **holder != host;
    }
    if (past && !agent->opt_out_data_collection) {
      auto lines = owned_history(store, past->id, who, now_epoch_ms(), lookup.tool_rounds);
      if (!lines) return std::move(lines).error();
      lookup.history = std::move(*lines);
    }
    return lookup;
  };
  db_.run(
      key, std::move(lookup_work),
      [this, request = std::move(request), agent, effective = std::move(effective),
       user_id = std::move(user_id), done = std::move(done)](Result<Lookup> lookup) mutable {
        if (!lookup) return done(std::move(lookup).error());
        continue_open(std::move(request), *agent, std::move(effective), std::move(user_id),
                      std::move(*lookup), std::move(done));
      });
}

void SessionService::continue_open(OpenRequest request, const AgentConfig& agent_config,
                                   std::shared_ptr<const AgentConfig> effective,
                                   std::string user_id, Lookup lookup,
                                   std::function<void(Result<OpenedSession>)> done) {
  const AgentConfig* agent = &agent_config;
  std::optional<SessionRecord> past = std::move(lookup.past);
  const bool asked = lookup.asked;
  const std::int64_t now = now_epoch_ms();
  Opening o;
  o.agent = std::move(effective);
  if (asked) {
    if (agent->opt_out_data_collection) {
      o.continuation = Continuation::opted_out;
      past.reset();
    } else if (!past) {
      o.continuation = Continuation::not_found;
    } else {
      // The same call coming back: a voice session that has not ended, whose call dropped
      // (connection_lost) on this host within the grace; or, with no call on this host at all
      // (this host was restarted, or the call lived on another one), whose last activity is
      // that recent or whose call lease another host held that recently (it died or lost the
      // client). Anything else is a new session continuing the named one.
      auto drop = dropped_.find(past->id);
      const bool waiting =
          drop != dropped_.end()
              ? now - drop->second.at_ms <= grace_ms_
              : !calls_.live(past->id) &&
                    (now - past->last_activity_ms <= grace_ms_ || lookup.live_elsewhere);
      o.resumed = request.rejoin && past->channel == "voice" && !past->ended_ms && waiting;
      const bool inside = !deleted(*past) && now - past->last_activity_ms < window_ms(*agent);
      o.continuation = o.resumed ? Continuation::resumed
                                 : inside ? Continuation::continued : Continuation::expired;
      if (o.continuation == Continuation::continued)
        o.continued_activity_ms = past->last_activity_ms;
      o.history = std::move(lookup.history);
      o.tool_rounds = std::move(lookup.tool_rounds);
      if (o.resumed) {
        if (drop != dropped_.end()) {
          drop->second.timer->cancel();
          dropped_.erase(drop);
        }
        // The call goes on with the agent it started with.
        o.agent = effective_agent(*past);
        if (!o.agent) return done(make_error("unknown_agent", "the session's agent is gone"));
      }
    }
  }

  SessionRecord& record = o.record;
  if (o.resumed) {
    record = *past;
  } else {
    record.id = request.preset_session_id.empty() ? new_session_id() : request.preset_session_id;
    record.chat_log_id = new_session_id();
    record.agent_id = agent->id;
    record.public_key = request.public_key.value_or("");
    record.user_id = user_id;
    record.channel = request.channel;
    record.metadata = request.metadata.is_object() ? request.metadata : json::object();
    record.include_metadata_in_prompt = request.include_metadata_in_prompt;
    record.variables = merge_variables(request.context_vars, record.metadata);
    record.continued_from = past ? past->id : std::string();
    record.opted_out = agent->opt_out_data_collection;
    record.created_ms = now;
    record.last_activity_ms = now;
    record.agent_overrides = request.agent_overrides;
    if (request.channel == "phone") {
      record.phone_from = request.from;
      record.phone_to = request.to;
      record.phone_direction = request.direction;
    }
  }
  o.request = std::move(request);

  if (!o.resumed && agent->extra_prompt_webhook) {
    ExtraPromptRequest ask{record.id, agent->id, o.request.from, o.request.to, record.metadata};
    auto self = this;
    auto shared = std::make_shared<Opening>(std::move(o));
    fetch_extra_prompt(
        http_, *agent, std::move(ask),
        [self, shared, done = std::move(done)](Result<ExtraPrompt> extra) mutable {
          Status used =
              extra ? self->use_extra_prompt(shared->record, *extra) : Status(extra.error());
          if (!used) {
            log_event(LogLevel::warn, "webhook.extra_prompt_failed",
                      "session=" + short_id(shared->record.id) +
                          " error=" + used.error().message);
            self->metrics_.error("extra_prompt_failed");
          }
          self->finish_open(std::move(*shared), std::move(done));
        });
    return;
  }
  finish_open(std::move(o), std::move(done));
}

Status SessionService::use_extra_prompt(SessionRecord& record, const ExtraPrompt& extra) {
  // The webhook's values win over the page's (Millis: "existing keys are updated"); the
  // result must still be within the metadata limits, or none of it is used.
  json metadata = record.metadata.is_object() ? record.metadata : json::object();
  for (auto it = extra.metadata.begin(); it != extra.metadata.end(); ++it)
    metadata[it.key()] = it.value();
  if (auto valid = validate_metadata(metadata); !valid)
    return make_error("extra_prompt_bad_reply",
                      "the extra_prompt_webhook's metadata: " + valid.error().message);
  for (auto it = extra.metadata.begin(); it != extra.metadata.end(); ++it)
    record.variables[it.key()] = it.value();
  record.metadata = std::move(metadata);
  record.extra_prompt = extra.extra_prompt;
  return ok_status();
}

void SessionService::finish_open(Opening o, std::function<void(Result<OpenedSession>)> done) {
  const std::int64_t now = now_epoch_ms();
  // The same call coming back goes on in the session it has (not ended: one call, one report);
  // any other call is a session of its own.
  const std::string key = o.record.id;
  auto store_work = [record = o.record, resumed = o.resumed, now](Store& store) -> Status {
    if (resumed) return store.touch_session(record.id, now);
    return store.create_session(record);
  };
  auto shared = std::make_shared<Opening>(std::move(o));
  db_.run(key, std::move(store_work),
          [this, shared, now, done = std::move(done)](Status stored) mutable {
            if (!stored) return done(std::move(stored).error());
            if (shared->resumed) shared->record.last_activity_ms = now;
            else ++metrics_.sessions_started;
            start_conversation(std::move(*shared), std::move(done));
          });
}

void SessionService::start_conversation(Opening o,
                                        std::function<void(Result<OpenedSession>)> done) {
  const std::int64_t now = now_epoch_ms();
  SessionRecord& record = o.record;
  const AgentConfig& agent = *o.agent;
  std::shared_ptr<Conversation> conversation;
  // The conversation waited for the call through the grace (unless the sweep let it go).
  if (o.resumed) {
    if (auto it = conversations_.find(record.id); it != conversations_.end()) {
      it->second.last_used_ms = now;
      conversation = it->second.conversation;
    }
  }

  OpenedSession opened;
  opened.continuation = o.continuation;
  opened.agent = o.agent;
  // Greeting (DESIGN §3): none when the same call comes back, nor when a voice call picks up
  // a conversation still going on (continued, last activity under kOngoingMs ago); the
  // resume_message (if any) for one picked up after a pause; the welcome message otherwise.
  const bool continues = !record.continued_from.empty();
  const bool ongoing = record.channel == "voice" &&
                       o.continuation == Continuation::continued &&
                       now - o.continued_activity_ms < kOngoingMs;
  if (!o.resumed && !ongoing) {
    const std::string& greeting_template =
        continues && !agent.resume_message.empty() ? agent.resume_message : agent.first_message;
    opened.greeting = fill_template(greeting_template, record.variables).text;
  }

  const bool fresh = conversation == nullptr;
  if (fresh) conversation = make_for(record, o.agent, o.history, std::move(o.tool_rounds), o.request.phone_call_id);
  opened.record = std::move(record);
  opened.history = std::move(o.history);
  opened.conversation = conversation;
  log_event(LogLevel::info, o.resumed ? "session.rejoin" : "session.open",
            "session=" + short_id(opened.record.id) + " agent=" + agent.id +
                " channel=" + opened.record.channel +
                (opened.record.continued_from.empty()
                     ? std::string()
                     : " continues=" + short_id(opened.record.continued_from)) +
                (opened.record.agent_overrides.is_null() ? std::string() : " agent_config=yes"));
  if (log_enabled(LogLevel::debug))
    log_event(LogLevel::debug, "session.prompt",
              "session=" + short_id(opened.record.id) + " prompt=" +
                  to_json_text(json(conversation->system_prompt())));
  auto shared = std::make_shared<OpenedSession>(std::move(opened));
  if (!fresh) {
    boost::asio::post(io_, [shared, done = std::move(done)]() mutable { done(std::move(*shared)); });
    return;
  }
  conversation->start([this, shared, done = std::move(done)](Status started) mutable {
    if (!started) {
      log_event(LogLevel::warn, "agent.start_failed",
                "session=" + short_id(shared->record.id) + " error=" + started.error().message);
      metrics_.error("agent_unavailable");
      conversations_.erase(shared->record.id);
      return done(make_error("agent_unavailable",
                             "the agent's language model is unavailable: " +
                                 started.error().message));
    }
    done(std::move(*shared));
  });
}

std::shared_ptr<Conversation> SessionService::make_for(const SessionRecord& session,
                                                       std::shared_ptr<const AgentConfig> agent,
                                                       std::vector<ChatLine> history,
                                                       std::vector<ToolRound> tool_rounds,
                                                       const std::string& call_sid) {
  ConversationContext context;
  context.agent = agent.get();
  context.agent_owner = std::move(agent);
  context.session_id = session.id;
  context.metadata = session.metadata;
  context.variables = session.variables;
  context.include_metadata_in_prompt = session.include_metadata_in_prompt;
  context.extra_prompt = session.extra_prompt;
  if (!session.phone_direction.empty()) {
    context.voip = {{"from", session.phone_from},
                    {"to", session.phone_to},
                    {"direction", session.phone_direction}};
    context.call_sid = call_sid;
  }
  std::int64_t own = 0;
  for (const auto& line : history)
    if (line.session_id == session.id) ++own;
  context.history = std::move(history);
  context.tool_rounds = std::move(tool_rounds);
  context.metrics = &metrics_;
  auto conversation = make_conversation(io_, http_, std::move(context));
  auto& live = conversations_[session.id];
  if (live.conversation) live.conversation->close();
  live.conversation = conversation;
  live.last_used_ms = now_epoch_ms();
  live.agent_id = session.agent_id;
  live.seen = session.opted_out ? -1 : own;
  return conversation;
}

std::shared_ptr<const AgentConfig> SessionService::effective_agent(
    const SessionRecord& session) const {
  const AgentConfig* agent = config_.find_agent(session.agent_id);
  if (!agent) return nullptr;
  if (session.agent_overrides.is_null())
    return std::shared_ptr<const AgentConfig>(std::shared_ptr<const AgentConfig>(), agent);
  auto applied = apply_agent_config(*agent, session.agent_overrides);
  if (!applied) {
    // Accepted when the call started; the config file changed since (allow_overrides).
    log_event(LogLevel::warn, "session.agent_config_dropped",
              "session=" + short_id(session.id) + " error=" + applied.error().message);
    return std::shared_ptr<const AgentConfig>(std::shared_ptr<const AgentConfig>(), agent);
  }
  return std::make_shared<const AgentConfig>(std::move(*applied));
}

void SessionService::note_seen(const std::string& session_id, std::int64_t seq) {
  auto it = conversations_.find(session_id);
  if (it == conversations_.end() || it->second.seen < 0) return;
  // The next line in order, or a gap (another host wrote between): the next turn reloads.
  it->second.seen = it->second.seen + 1 == seq ? seq : -2;
}

void SessionService::turn(const SessionRecord& session, std::string text, TurnHooks hooks,
                          std::function<void(Result<TurnResult>)> done) {
  const std::int64_t now = now_epoch_ms();
  auto result = std::make_shared<TurnResult>();
  result->user_line.session_id = session.id;
  result->user_line.timestamp_ms = now;
  result->user_line.inbound = true;
  result->user_line.text = text;
  // A conversation not held here (a REST session after a restart, one evicted, one another
  // host served) is rebuilt from the stored lines of its chain, read in the same work.
  // A conversation held here that missed lines another host stored (-2, or fewer than the
  // store has) is rebuilt too: the conversation state lives in the store.
  auto held = conversations_.find(session.id);
  const bool live = held != conversations_.end();
  const std::int64_t seen = live ? held->second.seen : -1;
  struct Stored {
    ChatLine user_line;
    std::optional<std::vector<ChatLine>> history;
    std::vector<ToolRound> tool_rounds;  // of the history's sessions
  };
  db_.run(
      session.id,
      [line = result->user_line, opted_out = session.opted_out, live, seen, id = session.id,
       now](Store& store) -> Result<Stored> {
        Stored out;
        out.user_line = line;
        bool reload = !live;
        if (live && seen != -1) {
          auto count = store.count_lines(id);
          if (!count) return std::move(count).error();
          reload = static_cast<std::int64_t>(*count) != seen;
        }
        if (reload) {
          // Read before the new line is stored: the history is what came before this turn.
          std::vector<ChatLine> history;
          auto chain = store.session_chain(id);
          if (!chain) return std::move(chain).error();
          // (Each link was owned when it was continued; a link deleted since is left out.)
          for (const auto& link : *chain) {
            if (deleted(link)) continue;
            auto lines = store.lines_of(link.id);
            if (!lines) return std::move(lines).error();
            for (auto& l : *lines) history.push_back(std::move(l));
            auto rounds = store.tool_rounds_of(link.id);
            if (!rounds) return std::move(rounds).error();
            for (auto& r : *rounds) out.tool_rounds.push_back(std::move(r));
          }
          out.history = std::move(history);
        }
        if (!opted_out) {
          auto stored = store.append_line(id, line);
          if (!stored) return std::move(stored).error();
          out.user_line = std::move(*stored);
        } else if (auto touched = store.touch_session(id, now); !touched) {
          return std::move(touched).error();
        }
        return out;
      },
      [this, result, session, text = std::move(text), hooks = std::move(hooks),
       done = std::move(done)](Result<Stored> stored) mutable {
        if (!stored) return done(std::move(stored).error());
        result->user_line = std::move(stored->user_line);
        std::shared_ptr<Conversation> conversation;
        if (auto it = conversations_.find(session.id);
            it != conversations_.end() && !stored->history) {
          it->second.last_used_ms = now_epoch_ms();
          conversation = it->second.conversation;
        } else {
          conversation = make_for(session, effective_agent(session),
                                  stored->history ? std::move(*stored->history)
                                                  : std::vector<ChatLine>{},
                                  std::move(stored->tool_rounds));
          conversation->start([](Status) {});
        }
        if (!session.opted_out) note_seen(session.id, result->user_line.seq);
        const std::string session_id = session.id;
        const bool opted_out = session.opted_out;
        // Each round of the LLM's tool calls is stored as it completes, after this turn's
        // user line (not for a session that opted out of data collection).
        if (!opted_out) hooks.tool_round = store_tool_round(session_id, result->user_line.seq, std::move(hooks.tool_round));
        conversation->respond(
            std::move(text), std::move(hooks),
            [this, result, session_id, opted_out, done = std::move(done)](AgentReply reply) mutable {
              result->agent_line.session_id = session_id;
              result->agent_line.timestamp_ms = now_epoch_ms();
              result->agent_line.inbound = false;
              result->agent_line.text = reply.text;
              result->agent_line.interrupted = reply.interrupted;
              // The turn's tool calls, for the end-of-call report's function_calls.
              json calls = json::array();
              for (const AgentAction& action : reply.actions) {
                json call = {
                    {"name", action.name},
                    {"params", action.arguments},
                    {"result", action.result},
                    {"ts", static_cast<double>(result->agent_line.timestamp_ms) / 1000.0}};
                if (!action.error.empty()) call["error"] = action.error;
                calls.push_back(std::move(call));
              }
              // A reply cut before it said anything leaves no line.
              const bool nothing_said = reply.interrupted && reply.text.empty();
              const bool store_line = !opted_out && !nothing_said;
              result->reply = std::move(reply);
              if (!store_line && calls.empty()) return done(std::move(*result));
              db_.run(
                  session_id,
                  [line = result->agent_line, session_id, calls = std::move(calls),
                   store_line](Store& store) -> Result<std::optional<ChatLine>> {
                    for (const auto& call : calls)
                      if (auto s = store.add_function_call(session_id, call); !s)
                        log_event(LogLevel::warn, "session.function_call_not_stored",
                                  "session=" + short_id(session_id) +
                                      " error=" + s.error().message);
                    if (!store_line) return std::optional<ChatLine>();
                    auto appended = store.append_line(session_id, line);
                    if (!appended) return std::move(appended).error();
                    return std::optional<ChatLine>(std::move(*appended));
                  },
                  [this, result, done = std::move(done)](
                      Result<std::optional<ChatLine>> agent_line) mutable {
                    if (!agent_line) return done(std::move(agent_line).error());
                    if (agent_line->has_value()) {
                      result->agent_line = std::move(**agent_line);
                      note_seen(result->agent_line.session_id, result->agent_line.seq);
                    }
                    done(std::move(*result));
                  });
            });
      });
}

std::function<void(const json&)> SessionService::store_tool_round(
    const std::string& session_id, std::int64_t after_line,
    std::function<void(const json&)> also) {
  return [this, session_id, after_line, also = std::move(also)](const json& messages) {
    ToolRound round;
    round.after_line = after_line;
    round.timestamp_ms = now_epoch_ms();
    round.messages = messages;
    // In order with the turn's other writes (the same key): before its agent line.
    db_.run(
        session_id,
        [session_id, round = std::move(round)](Store& store) {
          return store.append_tool_round(session_id, round);
        },
        [session_id](Result<ToolRound> stored) {
          // The turn goes on; a conversation rebuilt elsewhere will lack this round.
          if (!stored)
            log_event(LogLevel::warn, "session.tool_round_not_stored",
                      "session=" + short_id(session_id) + " error=" + stored.error().message);
        });
    if (also) also(messages);
  };
}

void SessionService::interrupt(const std::string& session_id, std::string heard) {
  auto it = conversations_.find(session_id);
  if (it != conversations_.end()) it->second.conversation->interrupt(std::move(heard));
}

void SessionService::update_metadata(const SessionRecord& session, const json& page_metadata,
                                     std::function<void(Status)> done) {
  json metadata = session.metadata.is_object() ? session.metadata : json::object();
  json variables = session.variables.is_object() ? session.variables : json::object();
  bool changed = false;
  for (auto it = page_metadata.begin(); it != page_metadata.end(); ++it) {
    if (metadata.contains(it.key()) && metadata[it.key()] == it.value()) continue;
    metadata[it.key()] = it.value();
    variables[it.key()] = it.value();
    changed = true;
  }
  if (!changed) return done(ok_status());
  if (auto valid = validate_metadata(metadata); !valid)
    return done(make_error("bad_request", "metadata: with the page's values the session's " +
                                              valid.error().message));
  db_.run(
      session.id,
      [id = session.id, metadata = std::move(metadata),
       variables = std::move(variables)](Store& store) {
        return store.update_metadata(id, metadata, variables);
      },
      [this, id = session.id, done = std::move(done)](Status stored) {
        if (!stored) return done(std::move(stored));
        // Rebuilt with the new values at the next turn.
        if (auto it = conversations_.find(id); it != conversations_.end()) {
          it->second.conversation->close();
          conversations_.erase(it);
        }
        done(ok_status());
      });
}

void SessionService::append_line(const std::string& session_id, ChatLine line,
                                 std::function<void(Result<ChatLine>)> done) {
  db_.run(
      session_id,
      [session_id, line = std::move(line)](Store& store) {
        return store.append_line(session_id, line);
      },
      [this, session_id, done = std::move(done)](Result<ChatLine> stored) {
        if (stored) note_seen(session_id, stored->seq);
        if (done) done(std::move(stored));
      });
}

void SessionService::mark_interrupted(const std::string& session_id, const std::string& line_id,
                                      bool keep_text) {
  db_.run(
      session_id,
      [line_id, keep_text](Store& store) { return store.mark_interrupted(line_id, keep_text); },
      [line_id](Status marked) {
        if (!marked)
          log_event(LogLevel::warn, "line.interrupt_failed",
                    "line=" + short_id(line_id) + " error=" + marked.error().message);
      });
}

void SessionService::end(const std::string& session_id, const std::string& reason,
                         std::function<void()> on_ended, std::optional<std::int64_t> ended_ms) {
  const std::int64_t now = now_epoch_ms();
  const std::int64_t when = ended_ms.value_or(now);
  if (auto it = dropped_.find(session_id); it != dropped_.end()) {
    it->second.timer->cancel();
    dropped_.erase(it);
  }
  if (auto it = conversations_.find(session_id); it != conversations_.end()) {
    it->second.conversation->close();
    conversations_.erase(it);
  }
  // Ending (with its call_status), reading the session back and queueing its report: one
  // piece of work, in order with the session's other writes.
  struct Ended {
    SessionRecord session;
    bool queued = false;
    std::optional<Error> enqueue_error;
  };
  db_.run(
      session_id,
      [this, session_id, reason, now, when, host = db_.host_id()](Store& store) -> Result<Ended> {
        // A call that went on elsewhere (its client reconnected to another host, which took
        // the lease) is not ended here: that host reports its end.
        auto holder = store.call_lease_holder(session_id, now);
        if (!holder) return std::move(holder).error();
        if (holder->has_value() && **holder != host)
          return make_error("held_elsewhere", "the session's call is live on host " + **holder);
        auto before = store.find_session(session_id);
        if (!before) return std::move(before).error();
        if (!before->has_value()) return make_error("not_found", "session not found");
        const std::string status = call_status_for((*before)->channel, reason).call_status;
        if (auto ended = store.end_session(session_id, when, reason, status); !ended)
          return std::move(ended).error();
        auto found = store.find_session(session_id);
        if (!found) return std::move(found).error();
        if (!found->has_value()) return make_error("not_found", "session not found");
        Ended out;
        out.session = std::move(**found);
        const AgentConfig* agent = config_.find_agent(out.session.agent_id);
        if (agent && agent->session_data_webhook) {
          auto report = call_log(store, out.session);
          Status queued = report ? enqueue_end_of_call(store, *agent, out.session, *report)
                                 : Status(std::move(report).error());
          if (!queued) out.enqueue_error = queued.error();
          else out.queued = true;
        }
        return out;
      },
      [this, session_id, on_ended = std::move(on_ended)](Result<Ended> ended) {
        if (on_ended) on_ended();
        if (!ended && ended.error().code == "held_elsewhere") {
          log_event(LogLevel::info, "session.end_skipped",
                    "session=" + short_id(session_id) + " " + ended.error().message);
          return;
        }
        if (!ended) {
          log_event(LogLevel::warn, "session.end_failed",
                    "session=" + short_id(session_id) + " error=" + ended.error().message);
          return;
        }
        log_event(LogLevel::info, "session.end",
                  "session=" + short_id(session_id) + " reason=" + ended->session.end_reason +
                      " call_status=" + ended->session.call_status);
        if (ended->enqueue_error) {
          log_event(LogLevel::error, "webhook.enqueue_failed",
                    "session=" + short_id(session_id) +
                        " error=" + ended->enqueue_error->message);
          metrics_.error("webhook_enqueue_failed");
        } else if (ended->queued) {
          outbox_.kick();
        }
      });
}

void SessionService::drop(const std::string& session_id) {
  auto& d = dropped_[session_id];
  d.at_ms = now_epoch_ms();
  d.timer = std::make_unique<boost::asio::steady_timer>(io_);
  d.timer->expires_after(std::chrono::milliseconds(grace_ms_));
  d.timer->async_wait([this, session_id](const boost::system::error_code& ec) {
    if (ec) return;
    auto it = dropped_.find(session_id);
    if (it == dropped_.end()) return;
    const std::int64_t at = it->second.at_ms;
    dropped_.erase(it);
    if (calls_.live(session_id)) return;  // it came back meanwhile
    end(session_id, "connection_lost", nullptr, at);
  });
  log_event(LogLevel::info, "session.dropped",
            "session=" + short_id(session_id) + " grace_ms=" + std::to_string(grace_ms_));
}

Result<json> SessionService::call_log(Store& store, const SessionRecord& session) const {
  std::vector<ChatLine> lines;
  if (!session.opted_out) {
    auto stored = store.lines_of(session.id);
    if (!stored) return std::move(stored).error();
    lines = std::move(*stored);
  }
  auto agent = effective_agent(session);
  json agent_config = agent ? agent_config_json(*agent) : json(nullptr);
  return end_of_call_payload(session, lines, agent_config);
}

const std::string* SessionService::prompt_of(const std::string& session_id) const {
  auto it = conversations_.find(session_id);
  if (it == conversations_.end()) return nullptr;
  return &it->second.conversation->system_prompt();
}

void SessionService::attach_call(const std::string& session_id) {
  const auto attachment = calls_.attach(session_id);
  if (!attachment) return;
  db_.run(
      session_id,
      [session_id, host = db_.host_id(), now = now_epoch_ms(), ttl = lease_ms_](Store& store) {
        return store.take_call_lease(session_id, host, now, ttl);
      },
      [this, session_id, attachment = *attachment](Status taken) {
        // The call goes on without it (the database may be down): its session is then
        // protected only by this host's own sweep, as with one host.
        if (!taken) {
          log_event(LogLevel::warn, "call.lease_failed",
                    "session=" + short_id(session_id) + " error=" + taken.error().message);
          return;
        }
        calls_.taken(session_id, attachment);
      });
}

void SessionService::detach_call(const std::string& session_id) {
  if (!calls_.detach(session_id)) return;
  db_.run(
      session_id,
      [session_id, host = db_.host_id()](Store& store) {
        return store.release_call_lease(session_id, host);
      },
      [](Status) {});  // a lease not released lapses within call_lease_ms
}

void SessionService::heartbeat(std::int64_t now_ms) {
  // Only the calls whose take has completed by now can be found by this renewal; a call
  // attached while it runs is asked about by the next one.
  CallLeases::Snapshot asked = calls_.held();
  if (asked.empty()) return;
  db_.run(
      "", [host = db_.host_id(), now_ms, ttl = lease_ms_](Store& store) {
        return store.renew_call_leases(host, now_ms, ttl);
      },
      [this, asked = std::move(asked)](Result<std::vector<std::string>> held) {
        if (!held) {
          log_event(LogLevel::warn, "call.heartbeat_failed", "error=" + held.error().message);
          return;
        }
        const std::set<std::string> renewed(held->begin(), held->end());
        for (const auto& id : calls_.lost(asked, renewed))
          log_event(LogLevel::info, "call.lease_lost",
                    "session=" + short_id(id) + " (taken over by another host)");
      });
}

void SessionService::sweep(std::int64_t now_ms) {
  // Sessions idle past their window end (and report), unless a call holds them.
  struct Open {
    std::vector<SessionRecord> sessions;
    std::set<std::string> leased;  // live on some host (this one included)
  };
  db_.run(
      "",
      [now_ms](Store& store) -> Result<Open> {
        auto open = store.open_sessions();
        if (!open) return std::move(open).error();
        auto leased = store.leased_sessions(now_ms);
        if (!leased) return std::move(leased).error();
        return Open{std::move(*open), {leased->begin(), leased->end()}};
      },
      [this, now_ms](Result<Open> open) {
        if (!open) {
          log_event(LogLevel::warn, "sweep.failed", "error=" + open.error().message);
          return;
        }
        for (const auto& s : open->sessions) {
          const AgentConfig* agent = config_.find_agent(s.agent_id);
          if (!agent || calls_.live(s.id) || dropped_.count(s.id) || open->leased.count(s.id))
            continue;
          if (now_ms - s.last_activity_ms >= window_ms(*agent)) end(s.id, "idle_expired");
        }
      });
  // Conversations nobody used for a window are dropped (rebuilt on demand).
  for (auto it = conversations_.begin(); it != conversations_.end();) {
    const AgentConfig* agent = config_.find_agent(it->second.agent_id);
    const std::int64_t window = agent ? window_ms(*agent) : 3600 * 1000;
    if (!calls_.live(it->first) && !dropped_.count(it->first) &&
        now_ms - it->second.last_used_ms >= window) {
      it->second.conversation->close();
      it = conversations_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& agent : config_.agents) {
    db_.run(
        "",
        [agent_id = agent.id, cutoff = now_ms - retention_ms(agent)](Store& store) {
          return store.purge_sessions(agent_id, cutoff);
        },
        [agent_id = agent.id](Result<std::uint32_t> purged) {
          if (purged && *purged > 0)
            log_event(LogLevel::info, "retention.purge",
                      "agent=" + agent_id + " sessions=" + std::to_string(*purged));
        });
  }
}

void SessionService::close_all() {
  // Calls waiting for their client to come back end now, as of their drop, and report.
  std::vector<std::pair<std::string, std::int64_t>> waiting;
  for (auto& [id, d] : dropped_) waiting.emplace_back(id, d.at_ms);
  for (const auto& [id, at] : waiting) end(id, "connection_lost", nullptr, at);
  for (auto& [id, live] : conversations_) live.conversation->close();
  conversations_.clear();
}

}  // namespace parley::host
