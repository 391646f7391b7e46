// Memori dates (DESIGN §4): UTC text in the .NET custom format "yyyyMMddHHmmssfff", e.g.
// "20240229235959123" for 2024-02-29T23:59:59.123Z, converted to and from Unix epoch
// milliseconds.
//
// Rules:
//  - Exactly 17 ASCII digits; the proleptic Gregorian calendar; always UTC.
//  - Range: 0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999 (the range of .NET's DateTime,
//    which the Memori engine uses; a four-digit year cannot say more). Year 0000 is refused.
//  - Each field is checked: month 01..12, day 01..(days of that month, leap years included),
//    hour 00..23 (so "24:00" is refused), minute 00..59, second 00..59 (no leap seconds: Unix
//    time has none), millisecond 000..999.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "parley/result.hpp"

namespace parley {

struct MemoriDateRange {
  static constexpr std::int64_t min_epoch_ms = -62135596800000;  // 0001-01-01T00:00:00.000Z
  static constexpr std::int64_t max_epoch_ms = 253402300799999;  // 9999-12-31T23:59:59.999Z
};

// Formats epoch milliseconds as "yyyyMMddHHmmssfff". Error code date_out_of_range when the
// instant falls outside MemoriDateRange.
Result<std::string> format_memori_date(std::int64_t epoch_ms);

// Parses "yyyyMMddHHmmssfff" into epoch milliseconds. `field` names the input in errors
// ("dateFrom", ...). Error codes: date_bad_length, date_not_digits, date_bad_year,
// date_bad_month, date_bad_day, date_bad_hour, date_bad_minute, date_bad_second.
Result<std::int64_t> parse_memori_date(std::string_view text, std::string_view field = "date");

// Calendar helpers (proleptic Gregorian), exposed for tests and for other date formats.
bool is_leap_year(std::int64_t year) noexcept;
int days_in_month(std::int64_t year, int month) noexcept;  // month 1..12; 0 if out of range
// Days since 1970-01-01 of a civil date (may be negative), and the reverse.
std::int64_t days_from_civil(std::int64_t year, int month, int day) noexcept;
void civil_from_days(std::int64_t days, std::int64_t& year, int& month, int& day) noexcept;

}  // namespace parley
