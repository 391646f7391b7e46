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

// A line's six settings, in the struct's order.
void check_line(const parley::host::LineSpeechConfig& line, std::uint32_t hangover_ms,
                std::uint32_t onset_ms, std::uint32_t threshold_db, std::int32_t echo_gate_db,
                std::uint32_t echo_tail_ms, std::uint32_t max_utterance_s) {
  CHECK(line.vad_hangover_ms == hangover_ms);
  CHECK(line.vad_onset_ms == onset_ms);
  CHECK(line.vad_threshold_db == threshold_db);
  CHECK(line.echo_gate_db == echo_gate_db);
  CHECK(line.echo_tail_ms == echo_tail_ms);
  CHECK(line.max_utterance_s == max_utterance_s);
}

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
  check_line(s.browser, 600, 30, 12, -18, 300, 15);
  check_line(s.phone, 600, 30, 12, -18, 300, 15);  // the browser's
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
  check_line(s.browser, 800, 40, 10, -25, 0, 30);
  CHECK(s.synth_cache_mb == 0);
  CHECK(s.synth_backlog == 5);
  CHECK(config->agents[0].voice.provider == "none");
  CHECK(config->agents[0].voice.voice_id == "en-gb+f3");

  patched["server"]["speech"]["model_dir"] = "models/en-us";
  auto relative = parse(patched);
  REQUIRE(relative.ok());
  CHECK(relative->server.speech.model_dir == "/etc/parley/models/en-us");
}

TEST_CASE("phone lines: server.speech.phone, each key left out the browser's (issue 16)",
          "[speech-config]") {
  const auto vectors = parley::test::load_vectors("host-speech");
  json patched = base().patch(parley::test::expand(vectors["valid"]["patch"]));
  SECTION("no phone section: the phone's settings are the browser's") {
    auto config = parse(patched);
    REQUIRE(config.ok());
    check_line(config->server.speech.phone, 800, 40, 10, -25, 0, 30);
  }
  SECTION("the keys given are the phone's own, the others the browser's") {
    patched["server"]["speech"]["phone"] = {{"vad_hangover_ms", 400}, {"echo_gate_db", -6},
                                            {"echo_tail_ms", 450}};
    auto config = parse(patched);
    INFO((config ? "" : config.error().message));
    REQUIRE(config.ok());
    check_line(config->server.speech.phone, 400, 40, 10, -6, 450, 30);
    check_line(config->server.speech.browser, 800, 40, 10, -25, 0, 30);  // as they were
  }
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
