#include <catch2/catch.hpp>
#include <cstdint>
#include <random>

#include "parley/memori_date.hpp"
#include "vectors.hpp"

using parley::json;

namespace {

json section(const std::string& key) {
  return parley::test::load_section("memori-date", key);
}

}  // namespace

TEST_CASE("valid yyyyMMddHHmmssfff texts parse to the expected epoch ms and back",
          "[memori-date]") {
  for (const auto& vec : section("valid")) {
    INFO(vec["name"].get<std::string>());
    const auto text = vec["text"].get<std::string>();
    const auto ms = vec["ms"].get<std::int64_t>();
    auto parsed = parley::parse_memori_date(text);
    INFO((parsed ? "" : parsed.error().message));
    REQUIRE(parsed.ok());
    CHECK(*parsed == ms);
    auto formatted = parley::format_memori_date(ms);
    REQUIRE(formatted.ok());
    CHECK(*formatted == text);
  }
}

TEST_CASE("invalid dates are refused, naming the field and the rule", "[memori-date]") {
  const auto field = parley::test::load_vectors("memori-date").at("field").get<std::string>();
  for (const auto& vec : section("invalid")) {
    INFO(vec["name"].get<std::string>());
    auto parsed = parley::parse_memori_date(vec["text"].get<std::string>(), field);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == vec["code"].get<std::string>());
    CHECK_THAT(parsed.error().message, Catch::Contains(field));
    for (const auto& word : vec["mentions"]) {
      CHECK_THAT(parsed.error().message, Catch::Contains(word.get<std::string>()));
    }
  }
}

TEST_CASE("instants outside years 0001..9999 cannot be formatted", "[memori-date]") {
  for (const auto& vec : section("format_out_of_range")) {
    INFO(vec["name"].get<std::string>());
    auto formatted = parley::format_memori_date(vec["ms"].get<std::int64_t>());
    REQUIRE_FALSE(formatted.ok());
    CHECK(formatted.error().code == "date_out_of_range");
    CHECK_THAT(formatted.error().message, Catch::Contains("0001..9999"));
  }
  CHECK(parley::format_memori_date(parley::MemoriDateRange::min_epoch_ms).ok());
  CHECK(parley::format_memori_date(parley::MemoriDateRange::max_epoch_ms).ok());
}

TEST_CASE("every day from 0001-01-01 to 9999-12-31 converts both ways, one after another",
          "[memori-date]") {
  // Walks the whole calendar a day at a time and checks the day-number conversions against
  // a plain successor function: no gaps, no repeats, leap days exactly where they belong.
  std::int64_t year = 1;
  int month = 1;
  int day = 1;
  std::int64_t days = parley::days_from_civil(1, 1, 1);
  CHECK(days == -719162);
  std::int64_t leap_days = 0;
  std::int64_t mismatches = 0;
  while (year <= 9999) {
    std::int64_t y = 0;
    int m = 0;
    int d = 0;
    parley::civil_from_days(days, y, m, d);
    if (y != year || m != month || d != day) ++mismatches;
    if (parley::days_from_civil(year, month, day) != days) ++mismatches;
    if (month == 2 && day == 29) ++leap_days;
    ++days;
    if (++day > parley::days_in_month(year, month)) {
      day = 1;
      if (++month > 12) {
        month = 1;
        ++year;
      }
    }
  }
  CHECK(mismatches == 0);
  CHECK(days == parley::days_from_civil(10000, 1, 1));
  // 9999 years: 2499 multiples of 4, minus 99 centuries, plus 24 multiples of 400.
  CHECK(leap_days == 2499 - 99 + 24);
}

TEST_CASE("random instants round-trip through the text form", "[memori-date]") {
  std::mt19937_64 rng(20240229);
  std::uniform_int_distribution<std::int64_t> any(parley::MemoriDateRange::min_epoch_ms,
                                                  parley::MemoriDateRange::max_epoch_ms);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t ms = any(rng);
    auto text = parley::format_memori_date(ms);
    REQUIRE(text.ok());
    REQUIRE(text->size() == 17);
    auto back = parley::parse_memori_date(*text);
    REQUIRE(back.ok());
    REQUIRE(*back == ms);
  }
}

TEST_CASE("calendar helpers know leap years and month lengths", "[memori-date]") {
  CHECK(parley::is_leap_year(2000));
  CHECK(parley::is_leap_year(2024));
  CHECK_FALSE(parley::is_leap_year(1900));
  CHECK_FALSE(parley::is_leap_year(2023));
  CHECK(parley::days_in_month(2024, 2) == 29);
  CHECK(parley::days_in_month(2100, 2) == 28);
  CHECK(parley::days_in_month(2024, 4) == 30);
  CHECK(parley::days_in_month(2024, 12) == 31);
  CHECK(parley::days_in_month(2024, 0) == 0);
  CHECK(parley::days_in_month(2024, 13) == 0);
}
