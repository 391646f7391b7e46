// The built-in responder: no LLM is reachable, so ordered reply rules answer. The first rule
// whose words (whole words, ASCII case folded) or pattern (ECMAScript, case-insensitive, run
// on the first 1 KiB of the text only) match gives the reply template; a rule may call a tool
// first and show its JSON reply under `tool.`. No rule → the agent's fallback_reply.
// Also: the tool call shared with the custom LLM, the system prompt, and make_conversation.
#include <cstddef>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

#include "agent_internal.hpp"
#include "parley/host/agent.hpp"
#include "parley/host/log.hpp"
#include "parley/templates.hpp"

namespace parley::host {
namespace agent_detail {

namespace {

constexpr std::size_t regex_input_limit = 1024;

char fold(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string fold_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = fold(c);
  return out;
}

// A byte that continues a word: ASCII letters, digits, '_' and every byte of a multi-byte
// UTF-8 sequence (so "hi" does not match inside "hié" or "this").
bool is_word_byte(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') ||
         (u >= 'A' && u <= 'Z') || u == '_';
}

// True when `word` (already folded) occurs in `folded_text` with no word byte on either side.
bool contains_whole_word(const std::string& folded_text, const std::string& word) {
  if (word.empty()) return false;
  std::size_t pos = folded_text.find(word);
  while (pos != std::string::npos) {
    bool starts = pos == 0 || !is_word_byte(folded_text[pos - 1]);
    std::size_t end = pos + word.size();
    bool ends = end == folded_text.size() || !is_word_byte(folded_text[end]);
    if (starts && ends) return true;
    pos = folded_text.find(word, pos + 1);
  }
  return false;
}

std::optional<std::regex> compile_pattern(const std::string& pattern, std::size_t rule_index,
                                          const std::string& agent_id) {
  if (pattern.empty()) return std::nullopt;
  // The config check refuses these; a config built in code may still hold one.
  if (!pattern_backreference(pattern).empty()) {
    log_event(LogLevel::warn, "agent.rule_pattern",
              "agent=" + agent_id + " rule=" + std::to_string(rule_index) +
                  " pattern has a backreference; the rule's pattern never matches");
    return std::nullopt;
  }
  auto flags = std::regex::ECMAScript | std::regex::icase | std::regex::optimize;
#ifdef __GLIBCXX__
  // libstdc++'s breadth-first matcher: polynomial time, so no pattern can hang the io thread.
  flags |= std::regex_constants::__polynomial;
#endif
  try {
    return std::regex(pattern, flags);
  } catch (const std::regex_error& e) {
    log_event(LogLevel::warn, "agent.rule_pattern",
              "agent=" + agent_id + " rule=" + std::to_string(rule_index) +
                  " pattern does not compile: " + e.what());
    return std::nullopt;
  }
}

bool pattern_matches(const std::regex& re, std::string_view text) {
  std::string_view head = text.substr(0, std::min(text.size(), regex_input_limit));
  try {
    return std::regex_search(head.begin(), head.end(), re);
  } catch (const std::regex_error&) {
    return false;  // error_complexity / error_stack: treat as no match
  }
}

// Fills every string inside `value` as a template (nested objects and arrays too).
json fill_strings(const json& value, const json& variables) {
  if (value.is_string()) return fill_template(value.get_ref<const std::string&>(), variables).text;
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) out.push_back(fill_strings(item, variables));
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      out[it.key()] = fill_strings(it.value(), variables);
    }
    return out;
  }
  return value;
}

bool missing_names_tool(const std::vector<std::string>& missing) {
  for (const auto& name : missing) {
    if (name == "tool" || name.rfind("tool.", 0) == 0) return true;
  }
  return false;
}

struct CompiledRule {
  const ReplyRule* rule = nullptr;
  std::vector<std::string> folded_words;
  std::optional<std::regex> pattern;
};

class BuiltinConversation : public Conversation,
                            public std::enable_shared_from_this<BuiltinConversation> {
 public:
  BuiltinConversation(boost::asio::io_context& io, HttpClient& http, ConversationContext context)
      : io_(io), http_(http), context_(std::move(context)) {
    variables_ = template_variables(context_);
    prompt_ = assemble_system_prompt(*context_.agent, variables_, context_.metadata,
                                     context_.include_metadata_in_prompt,
                                     context_.extra_prompt);
    const auto& rules = context_.agent->rules;
    for (std::size_t i = 0; i < rules.size(); ++i) {
      CompiledRule compiled;
      compiled.rule = &rules[i];
      for (const auto& w : rules[i].words) compiled.folded_words.push_back(fold_ascii(w));
      compiled.pattern = compile_pattern(rules[i].pattern, i, context_.agent->id);
      rules_.push_back(std::move(compiled));
    }
  }

  void start(std::function<void(Status)> done) override {
    boost::asio::post(io_, [done = std::move(done)] { done(ok_status()); });
  }

  void respond(std::string user_text, TurnHooks partial,
               std::function<void(AgentReply)> done) override {
    const CompiledRule* rule = match(user_text);
    if (rule == nullptr || closed_) {
      AgentReply reply;
      reply.text = fallback_text();
      reply.fallback = true;
      return deliver(std::move(reply), std::move(partial), std::move(done));
    }
    if (rule->rule->tool.empty()) {
      return deliver(render(*rule->rule, variables_), std::move(partial), std::move(done));
    }
    run_tool_rule(*rule->rule, std::move(partial), std::move(done));
  }

  void close() override { closed_ = true; }
  void interrupt(std::string) override {}  // rules keep no history

  const std::string& system_prompt() const override { return prompt_; }

 private:
  const CompiledRule* match(const std::string& text) const {
    const std::string folded = fold_ascii(text);
    for (const auto& r : rules_) {
      for (const auto& w : r.folded_words) {
        if (contains_whole_word(folded, w)) return &r;
      }
      if (r.pattern && pattern_matches(*r.pattern, text)) return &r;
    }
    return nullptr;
  }

  std::string fallback_text() const {
    std::string text = fill_template(context_.agent->fallback_reply, variables_).text;
    return text.empty() ? std::string("Sorry, I did not understand that.") : text;
  }

  AgentReply render(const ReplyRule& rule, const json& variables) const {
    AgentReply reply;
    reply.text = fill_template(rule.reply, variables).text;
    if (reply.text.empty()) {
      reply.text = fallback_text();
      reply.fallback = true;
    }
    return reply;
  }

  void run_tool_rule(const ReplyRule& rule, TurnHooks partial,
                     std::function<void(AgentReply)> done) {
    const ToolConfig* tool = context_.agent->find_tool(rule.tool);
    auto finish = [self = shared_from_this(), &rule, partial = std::move(partial),
                   done = std::move(done)](AgentAction action) mutable {
      self->after_tool(rule, std::move(action), std::move(partial), std::move(done));
    };
    if (tool == nullptr) {
      AgentAction action;
      action.name = rule.tool;
      action.error = "the agent has no tool named \"" + rule.tool + "\"";
      boost::asio::post(io_, [finish = std::move(finish), action = std::move(action)]() mutable {
        finish(std::move(action));
      });
      return;
    }
    call_tool(io_, http_, *tool, context_.agent->id, context_.session_id,
              fill_strings(rule.tool_arguments, variables_), context_.metadata, std::move(finish));
  }

  // The reply template sees the tool's reply under `tool.`. When the tool failed it is
  // rendered without it: a template that gives fallbacks ({tool.x|...}) still reads well;
  // one that needs the tool's data falls back to the agent's fallback_reply.
  void after_tool(const ReplyRule& rule, AgentAction action, TurnHooks partial,
                  std::function<void(AgentReply)> done) {
    json vars = variables_;
    if (action.error.empty()) vars["tool"] = action.result;
    TemplateResult filled = fill_template(rule.reply, vars);
    AgentReply reply;
    if (!action.error.empty()) {
      reply.fallback = true;
      reply.text = missing_names_tool(filled.missing) ? fallback_text() : filled.text;
    } else {
      reply.text = filled.text;
    }
    if (reply.text.empty()) {
      reply.text = fallback_text();
      reply.fallback = true;
    }
    reply.actions.push_back(std::move(action));
    deliver(std::move(reply), std::move(partial), std::move(done));
  }

  // Replies leave through the io loop, never from inside respond(): callers may hold state
  // they change after the call returns.
  void deliver(AgentReply reply, TurnHooks hooks, std::function<void(AgentReply)> done) {
    boost::asio::post(io_, [reply = std::move(reply), hooks = std::move(hooks),
                            done = std::move(done)]() mutable {
      if (hooks.action) {
        for (const auto& action : reply.actions) hooks.action(action);
      }
      if (hooks.text) hooks.text(reply.text);
      done(std::move(reply));
    });
  }

  boost::asio::io_context& io_;
  HttpClient& http_;
  ConversationContext context_;
  json variables_;
  std::string prompt_;
  std::vector<CompiledRule> rules_;
  bool closed_ = false;
};

}  // namespace

json template_variables(const ConversationContext& context) {
  json vars = context.metadata.is_object() ? context.metadata : json::object();
  if (context.variables.is_object()) {
    for (auto it = context.variables.begin(); it != context.variables.end(); ++it) {
      vars[it.key()] = it.value();
    }
  }
  return vars;
}

void call_tool(boost::asio::io_context& io, HttpClient& http, const ToolConfig& tool,
               const std::string& agent_id, const std::string& session_id,
               const json& model_arguments, const json& metadata,
               std::function<void(AgentAction)> done) {
  AgentAction action;
  action.name = tool.name;
  action.arguments = model_arguments.is_object() ? model_arguments : json::object();
  auto arguments = fill_function_arguments(tool.parameters, model_arguments, metadata);
  if (!arguments) {
    action.error = arguments.error().message;
    action.result = nullptr;
    boost::asio::post(io, [action = std::move(action), done = std::move(done)]() mutable {
      done(std::move(action));
    });
    return;
  }
  action.arguments = arguments.value();
  json body = {{"name", tool.name},
               {"arguments", action.arguments},
               {"session_id", session_id},
               {"agent_id", agent_id}};
  http.request(tool.webhook, to_json_text(body), {},
               [action = std::move(action), done = std::move(done),
                tool_name = tool.name](Result<HttpClientResponse> response) mutable {
                 if (!response) {
                   action.error = response.error().message;
                 } else if (response->status < 200 || response->status > 299) {
                   action.error = "tool \"" + tool_name + "\" answered HTTP " +
                                  std::to_string(response->status);
                 } else {
                   auto parsed = parse_json(response->body, "the reply of tool " + tool_name);
                   if (parsed) {
                     action.result = std::move(parsed.value());
                   } else {
                     action.error = parsed.error().message;
                   }
                 }
                 if (!action.error.empty()) action.result = nullptr;
                 done(std::move(action));
               });
}

}  // namespace agent_detail

std::string assemble_system_prompt(const AgentConfig& agent, const json& variables,
                                   const json& metadata, bool include_metadata_in_prompt,
                                   const std::string& extra_prompt) {
  std::string prompt = fill_prompt_template(agent.prompt, variables).text;
  if (!extra_prompt.empty()) prompt += (prompt.empty() ? "" : "\n\n") + extra_prompt;
  if (!include_metadata_in_prompt) return prompt;
  return append_metadata_to_prompt(prompt, metadata);
}

std::shared_ptr<Conversation> make_conversation(boost::asio::io_context& io, HttpClient& http,
                                                ConversationContext context) {
  static const AgentConfig no_agent;  // a caller bug must not crash the host: fallback only
  if (context.agent == nullptr) context.agent = &no_agent;
  if (context.agent->llm) {
    return agent_detail::make_openai_conversation(io, http, std::move(context));
  }
  if (!context.agent->custom_llm_websocket.empty()) {
    return agent_detail::make_custom_llm_conversation(io, http, std::move(context));
  }
  return std::make_shared<agent_detail::BuiltinConversation>(io, http, std::move(context));
}

}  // namespace parley::host
