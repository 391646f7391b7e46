#include "parley/memori_date.hpp"

namespace parley {
namespace {

constexpr std::int64_t ms_per_day = 86'400'000;
constexpr std::size_t memori_date_length = 17;

// Floor division: epoch milliseconds before 1970 must land on the day they belong to.
std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

void put_digits(std::string& out, std::int64_t value, int width) {
  std::size_t end = out.size() + static_cast<std::size_t>(width);
  out.resize(end);
  for (int i = 0; i < width; ++i) {
    out[end - 1 - static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

int read_digits(std::string_view text, std::size_t pos, std::size_t width) noexcept {
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) value = value * 10 + (text[i] - '0');
  return value;
}

std::string quoted_field(std::string_view field, std::string_view text) {
  return std::string(field) + " \"" + std::string(text) + "\"";
}

}  // namespace

bool is_leap_year(std::int64_t year) noexcept {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(std::int64_t year, int month) noexcept {
  static constexpr int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  if (month == 2 && is_leap_year(year)) return 29;
  return days[month - 1];
}

// The era-based conversion (400-year cycles of 146097 days, years starting in March so that
// the leap day falls at the end), valid for every date in our range and far beyond.
std::int64_t days_from_civil(std::int64_t year, int month, int day) noexcept {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(year, 400);
  const std::int64_t year_of_era = year - era * 400;                         // 0..399
  const std::int64_t shifted_month = month > 2 ? month - 3 : month + 9;      // March = 0
  const std::int64_t day_of_year = (153 * shifted_month + 2) / 5 + day - 1;  // 0..365
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;  // 0..146096
  return era * 146097 + day_of_era - 719468;  // 719468 days from 0000-03-01 to 1970-01-01
}

void civil_from_days(std::int64_t days, std::int64_t& year, int& month, int& day) noexcept {
  days += 719468;
  const std::int64_t era = floor_div(days, 146097);
  const std::int64_t day_of_era = days - era * 146097;
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t shifted_month = (5 * day_of_year + 2) / 153;
  day = static_cast<int>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  month = static_cast<int>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
  year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
}

Result<std::string> format_memori_date(std::int64_t epoch_ms) {
  if (epoch_ms < MemoriDateRange::min_epoch_ms || epoch_ms > MemoriDateRange::max_epoch_ms) {
    return make_error("date_out_of_range",
                      "epoch milliseconds " + std::to_string(epoch_ms) +
                          " is outside the years 0001..9999 that yyyyMMddHHmmssfff can write");
  }
  const std::int64_t days = floor_div(epoch_ms, ms_per_day);
  std::int64_t ms_of_day = epoch_ms - days * ms_per_day;
  std::int64_t year = 0;
  int month = 0;
  int day = 0;
  civil_from_days(days, year, month, day);

  std::string out;
  out.reserve(memori_date_length);
  put_digits(out, year, 4);
  put_digits(out, month, 2);
  put_digits(out, day, 2);
  put_digits(out, ms_of_day / 3'600'000, 2);
  ms_of_day %= 3'600'000;
  put_digits(out, ms_of_day / 60'000, 2);
  ms_of_day %= 60'000;
  put_digits(out, ms_of_day / 1000, 2);
  put_digits(out, ms_of_day % 1000, 3);
  return out;
}

Result<std::int64_t> parse_memori_date(std::string_view text, std::string_view field) {
  if (text.size() != memori_date_length) {
    return make_error("date_bad_length", quoted_field(field, text) + " is " +
                                             std::to_string(text.size()) +
                                             " characters; yyyyMMddHHmmssfff needs 17");
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return make_error("date_not_digits",
                        quoted_field(field, text) + " has a non-digit at position " +
                            std::to_string(i + 1) + "; yyyyMMddHHmmssfff is 17 digits");
    }
  }
  const int year = read_digits(text, 0, 4);
  const int month = read_digits(text, 4, 2);
  const int day = read_digits(text, 6, 2);
  const int hour = read_digits(text, 8, 2);
  const int minute = read_digits(text, 10, 2);
  const int second = read_digits(text, 12, 2);
  const int millisecond = read_digits(text, 14, 3);

  if (year < 1) {
    return make_error("date_bad_year",
                      quoted_field(field, text) + ": year 0000 is not allowed (0001..9999)");
  }
  if (month < 1 || month > 12) {
    return make_error("date_bad_month", quoted_field(field, text) + ": month " +
                                            std::to_string(month) + " is not 01..12");
  }
  const int month_days = days_in_month(year, month);
  if (day < 1 || day > month_days) {
    return make_error("date_bad_day", quoted_field(field, text) + ": day " + std::to_string(day) +
                                          " is not 01.." + std::to_string(month_days) +
                                          " for month " + std::to_string(month) + " of " +
                                          std::to_string(year));
  }
  if (hour > 23) {
    return make_error("date_bad_hour", quoted_field(field, text) + ": hour " +
                                           std::to_string(hour) + " is not 00..23");
  }
  if (minute > 59) {
    return make_error("date_bad_minute", quoted_field(field, text) + ": minute " +
                                             std::to_string(minute) + " is not 00..59");
  }
  if (second > 59) {
    return make_error("date_bad_second", quoted_field(field, text) + ": second " +
                                             std::to_string(second) + " is not 00..59");
  }
  const std::int64_t days = days_from_civil(year, month, day);
  return days * ms_per_day + hour * std::int64_t{3'600'000} + minute * std::int64_t{60'000} +
         second * std::int64_t{1000} + millisecond;
}

}  // namespace parley
