// server.speech and the agent's voice in the config file (issue 5): defaults, every field,
// and mistakes named by their path; the agents' keyword hints.
#include <catch2/catch.hpp>

#include "parley/host/config.hpp"
#include "parley/host/recognizer.hpp"
#include "vectors.hpp"

using parley::json;
using parley::host::HostConfig;

namespace {

parley::Result<HostConfig> parse(const json& config) {
  return parley::host::parse_host_config(parley::to_json_text(config), "/etc/parley");
}

json base() { return parley::test::load_vectors("host-speech")["base"]; }

}  // namespace

TEST_CASE("speech is on by default with the documented settings", "[speech-config]") {
  auto config = parse(base());
  REQUIRE(config.ok());
  const auto& s = config->server.speech;
  CHECK(s.enabled);
  CHECK(s.model_dir == "/usr/share/pocketsphinx/model/en-us");
  CHECK(s.keyword_hints);
  CHECK(s.hint_weight == Approx(0.05));
  CHECK(s.vocabulary == 10000);
  CHECK(s.workers == 2);
  CHECK(s.queue_limit == 256);
  CHECK(s.max_decoders == 8);
  CHECK(s.vad_hangover_ms == 600);
  CHECK(s.vad_onset_ms == 30);
  CHECK(s.vad_threshold_db == 12);
  CHECK(s.echo_gate_db == -18);
  CHECK(s.echo_tail_ms == 300);
  CHECK(s.max_utterance_s == 15);
  CHECK(s.synth_cache_mb == 32);
  CHECK(s.synth_backlog == 2000);
  CHECK(config->agents[0].voice.provider == "espeak-ng");
  CHECK(config->agents[0].voice.voice_id.empty());
}

TEST_CASE("every speech field is read; relative model paths follow the config file",
          "[speech-config]") {
  const auto vectors = parley::test::load_vectors("host-speech");
  json patched = base().patch(parley::test::expand(vectors["valid"]["patch"]));
  auto config = parse(patched);
  INFO((config ? "" : config.error().message));
  REQUIRE(config.ok());
  const auto& s = config->server.speech;
  CHECK(s.model_dir == "/opt/model");
  CHECK_FALSE(s.keyword_hints);
  CHECK(s.hint_weight == Approx(0.25));
  CHECK(s.vocabulary == 0);
  CHECK(s.workers == 4);
  CHECK(s.queue_limit == 10);
  CHECK(s.max_decoders == 2);
  CHECK(s.vad_hangover_ms == 800);
  CHECK(s.vad_onset_ms == 40);
  CHECK(s.vad_threshold_db == 10);
  CHECK(s.echo_gate_db == -25);
  CHECK(s.echo_tail_ms == 0);
  CHECK(s.max_utterance_s == 30);
  CHECK(s.synth_cache_mb == 0);
  CHECK(s.synth_backlog == 5);
  CHECK(config->agents[0].voice.provider == "none");
  CHECK(config->agents[0].voice.voice_id == "en-gb+f3");

  patched["server"]["speech"]["model_dir"] = "models/en-us";
  auto relative = parse(patched);
  REQUIRE(relative.ok());
  CHECK(relative->server.speech.model_dir == "/etc/parley/models/en-us");
}

TEST_CASE("speech config mistakes name the field and the rule", "[speech-config]") {
  for (const auto& vec : parley::test::load_section("host-speech", "invalid")) {
    INFO(vec["name"].get<std::string>());
    auto config = parse(base().patch(parley::test::expand(vec["patch"])));
    REQUIRE_FALSE(config.ok());
    parley::test::check_error(config.error(), vec);
  }
}

TEST_CASE("an agent's hints: rule words and custom vocabulary, split, lowercased, unique",
          "[speech-config]") {
  auto config = parse(base());
  REQUIRE(config.ok());
  const auto hints = parley::host::hints_for_agent(config->agents[0]);
  CHECK(hints.words == parley::test::load_vectors("host-speech")["hints"].get<std::vector<std::string>>());
}
