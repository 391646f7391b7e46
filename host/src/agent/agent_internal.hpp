// Pieces of the agent runtime shared between its translation units (not a public header):
// the tool call (used by the built-in responder and by the custom LLM link) and the factory
// of the custom LLM conversation.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "parley/host/agent.hpp"

namespace parley::host::agent_detail {

// Calls `tool`: builds the arguments (fill_function_arguments: metadata overrides
// `model_arguments` for parameters named like metadata keys), POSTs
// {"name","arguments","session_id","agent_id"} to the tool's webhook and expects a 2xx JSON
// reply. `done` always receives an action: with `result` set, or with `error` saying why not.
// `done` runs later on the io thread, never inside call_tool.
void call_tool(boost::asio::io_context& io, HttpClient& http, const ToolConfig& tool,
               const std::string& agent_id, const std::string& session_id,
               const json& model_arguments, const json& metadata,
               std::function<void(AgentAction)> done);

// What templates see: the metadata, overlaid by the session's variables (prefetched data).
json template_variables(const ConversationContext& context);

// The conversation with a custom LLM over a WebSocket (custom_llm.cpp).
std::shared_ptr<Conversation> make_custom_llm_conversation(boost::asio::io_context& io,
                                                           HttpClient& http,
                                                           ConversationContext context);

// The conversation with an OpenAI-compatible chat-completions server (openai_llm.cpp).
std::shared_ptr<Conversation> make_openai_conversation(boost::asio::io_context& io,
                                                       HttpClient& http,
                                                       ConversationContext context);

}  // namespace parley::host::agent_detail
