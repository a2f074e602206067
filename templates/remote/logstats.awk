# Reduce router log lines to counts and histograms for fleetroute log-stats.
#
# Input: the concatenated log files. A line that contains the value of `marker` is a
# control line from logstats.sh: "MARKER file N" starts file N and
# "MARKER error N STATUS" follows a file that could not be read to its end. Text
# before the marker on such a line is the last line of the previous file, which had
# no final newline.
#
# Variables (awk -v): marker; since and until (epoch seconds, or empty for no
# limit); zones ("ABBR=SECONDS,..."); host_zone and host_offset (date '+%Z' and
# '+%z' on this host); exact_max, bucket_ratio, max_examples, example_bytes,
# max_guessed_zones.
#
# Output: one record a line, fields separated by tabs:
#   total NAME N            NAME: lines, parsed, unparsed, filtered, untimed
#   time first|last EPOCH
#   example LINE            the first unparsed lines, cut to example_bytes
#   count TABLE MODE N      TABLE: mode (lines), unknown (unknown metric), zero (metric 0),
#                           gpufull (reason lists gpu-full: a GPU job sent to a CPU slot)
#   sample KIND MODE LINE   KIND: first, zero, unknown
#   hist KIND MODE COUNT SUM MIN MAX   KIND: metric, elapsed, peak_rss_kb, killed
#   exact KIND MODE VALUE:N VALUE:N ...   values rounded to 10 significant digits
#   bucket KIND MODE INDEX:N INDEX:N ...  INDEX z for 0
#   day DAY MODE:N MODE:N ...             DAY: days since 1970-01-01, UTC
#   exit MODE CODE N        outcome lines of MODE-EXIT
#   zone ABBR N             zone abbreviations read with the host's offset as a guess
#   file N LINES | readerror N STATUS
#
# This is the grammar of fleetroute/logs/parse.py and the counting of
# fleetroute/logs/stats.py: change them together. Only POSIX awk features are used
# (no mktime, no interval expressions, no length(array)), so that mawk, gawk and
# busybox awk all run it.

BEGIN {
  CONVFMT = "%.17g"
  OFMT = "%.17g"
  split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", names, " ")
  for (i = 1; i <= 12; i++) {
    month_number[names[i]] = i
  }
  split("Mon Tue Wed Thu Fri Sat Sun", names, " ")
  for (i = 1; i <= 7; i++) {
    weekday[names[i]] = 1
  }
  pairs = split(zones, names, ",")
  for (i = 1; i <= pairs; i++) {
    split(names[i], pair, "=")
    zone_offset[pair[1]] = pair[2] + 0
  }
  host_offset_s = numeric_offset(host_offset)
  if (host_zone != "") {
    zone_offset[host_zone] = host_offset_s
  }
  log_ratio = log(bucket_ratio)
  has_since = (since != "")
  has_until = (until != "")
  since += 0
  until += 0
  current = -1
  lines = parsed = unparsed = filtered = untimed = 0
  mode_count = guessed_count = 0
  first = last = ""
}

{
  at = index($0, marker)
  if (at == 0) {
    take_line()
    next
  }
  control = substr($0, at)
  if (at > 1) {
    $0 = substr($0, 1, at - 1)
    take_line()
  }
  $0 = control
  if ($2 == "file") {
    current = $3
    file_lines[current] += 0
  } else if ($2 == "error") {
    read_error[$3] = $4
  }
}

function take_line() {
  lines++
  file_lines[current]++
  if (substr($0, length($0)) == "\r") {
    $0 = substr($0, 1, length($0) - 1)
  }
  parse_line()
}

function reject() {
  unparsed++
  if (unparsed <= max_examples) {
    example[unparsed] = substr($0, 1, example_bytes)
  }
}

function parse_line(    m, i, n, eq, key, mode, value, time_text, exit_text, elapsed_text, rss_text, reason_text, epoch, v) {
  if ($1 != "[ROUTER]") {
    reject()
    return
  }
  m = 0
  n = (NF < 8) ? NF : 8
  for (i = 2; i <= n; i++) {
    if (substr($i, 1, 5) == "mode=") {
      m = i
      break
    }
  }
  if (m == 0 || m == NF) {
    reject()
    return
  }
  mode = substr($m, 6)
  if (length(mode) > 40 || mode !~ /^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$/) {
    reject()
    return
  }
  if (!(mode in counts) && mode_count >= 64) {
    reject()
    return
  }
  if (substr($(m + 1), 1, 7) != "metric=") {
    reject()
    return
  }
  value = substr($(m + 1), 8)

  # time= comes first in fleetroute's lines, so a later one is part of a quoted
  # host or unit. The outcome fields come last, so their last value wins.
  time_text = exit_text = elapsed_text = rss_text = reason_text = ""
  for (i = m + 2; i <= NF; i++) {
    eq = index($i, "=")
    if (eq == 0) {
      if ($i == "args:") {
        break
      }
      continue
    }
    key = substr($i, 1, eq - 1)
    if (key == "input") {
      break
    } else if (key == "time" && time_text == "") {
      time_text = substr($i, eq + 1)
    } else if (key == "exit") {
      exit_text = substr($i, eq + 1)
    } else if (key == "elapsed") {
      elapsed_text = substr($i, eq + 1)
    } else if (key == "peak_rss_kb") {
      rss_text = substr($i, eq + 1)
    } else if (key == "reason") {
      reason_text = substr($i, eq + 1)
    }
  }

  guessed_zone = ""
  epoch = iso_epoch(time_text)
  if (epoch == "") {
    if (m == 3 && $2 == "-") {
      epoch = "-"
    } else {
      epoch = human_epoch(m)
      if (epoch == "") {
        reject()
        return
      }
    }
  }

  if (epoch == "-") {
    if (has_since || has_until) {
      filtered++
      return
    }
  } else if ((has_since && epoch < since) || (has_until && epoch >= until)) {
    filtered++
    return
  }

  parsed++
  if (!(mode in counts)) {
    mode_count++
  }
  counts[mode]++
  keep_sample("first", mode)
  add_time(epoch, mode)
  if (mode ~ /-EXIT$/) {
    add_outcome(substr(mode, 1, length(mode) - 5), value, exit_text, elapsed_text, rss_text)
    return
  }
  if (index("," reason_text ",", ",gpu-full,") > 0) {
    gpu_full[mode]++
  }
  if (!is_number(value)) {
    unknown[mode]++
    keep_sample("unknown", mode)
    return
  }
  v = value + 0
  if (mode == "GPU" || mode == "CPU" || mode == "GPU-BLOCKED" || mode == "CPU-BLOCKED") {
    hist_add("metric", mode, v)
  }
  if (v == 0) {
    zero[mode]++
    keep_sample("zero", mode)
  }
}

function keep_sample(kind, mode) {
  if (!((kind SUBSEP mode) in sample)) {
    sample[kind SUBSEP mode] = substr($0, 1, example_bytes)
  }
}

function add_time(epoch, mode,    day) {
  if (guessed_zone != "") {
    if ((guessed_zone in guessed) || guessed_count < max_guessed_zones) {
      if (!(guessed_zone in guessed)) {
        guessed_count++
      }
      guessed[guessed_zone]++
    }
  }
  if (epoch == "-") {
    untimed++
    return
  }
  if (first == "" || epoch < first) {
    first = epoch
  }
  if (last == "" || epoch > last) {
    last = epoch
  }
  day = int(epoch / 86400)
  days[day SUBSEP mode]++
}

function add_outcome(mode, value, code, elapsed, rss) {
  if (code !~ /^[0-9][0-9]?[0-9]?$/) {
    code = "?"
  }
  exits[mode SUBSEP code]++
  if (is_number(elapsed)) {
    hist_add("elapsed", mode, elapsed + 0)
  }
  if (is_number(rss)) {
    hist_add("peak_rss_kb", mode, rss + 0)
  }
  if (code == "137" && is_number(value)) {
    hist_add("killed", mode, value + 0)
  }
}

function is_number(text) {
  return length(text) <= 30 && text ~ /^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/ && text + 0 < 1e18
}

# Histograms keep exact values, rounded to 10 significant digits, until more than
# exact_max distinct ones were seen, then move every value into log-spaced buckets.
function hist_add(kind, mode, v,    key, rounded) {
  key = kind SUBSEP mode
  h_count[key]++
  h_sum[key] += v
  if (!(key in h_min) || v < h_min[key]) {
    h_min[key] = v
  }
  if (!(key in h_max) || v > h_max[key]) {
    h_max[key] = v
  }
  if (key in h_buckets) {
    bucket_add(key, v, 1)
    return
  }
  rounded = sprintf("%.10g", v)
  if (!((key SUBSEP rounded) in h_exact)) {
    h_distinct[key]++
  }
  h_exact[key SUBSEP rounded]++
  if (h_distinct[key] > exact_max) {
    to_buckets(key)
  }
}

function to_buckets(key,    k, parts) {
  h_buckets[key] = 1
  for (k in h_exact) {
    split(k, parts, SUBSEP)
    if (parts[1] SUBSEP parts[2] == key) {
      bucket_add(key, parts[3] + 0, h_exact[k])
      delete h_exact[k]
    }
  }
}

function bucket_add(key, v, n,    x, b) {
  if (v <= 0) {
    b = "z"
  } else {
    x = log(v) / log_ratio
    b = int(x)
    if (b > x) {
      b--
    }
  }
  h_bucket[key SUBSEP b] += n
}

function numeric_offset(text,    sign, seconds) {
  if (text !~ /^[+-][0-9][0-9]([0-9][0-9])?$/) {
    return 0
  }
  sign = (substr(text, 1, 1) == "-") ? -1 : 1
  seconds = substr(text, 2, 2) * 3600
  if (length(text) == 5) {
    seconds += substr(text, 4, 2) * 60
  }
  return sign * seconds
}

function days_from_civil(y, m, d,    era, yoe, doy, doe) {
  y -= (m <= 2)
  era = int((y >= 0 ? y : y - 399) / 400)
  yoe = y - era * 400
  doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

function valid_time(y, mo, d, h, mi, s) {
  return y >= 1970 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && s <= 60
}

function iso_epoch(t,    y, mo, d, h, mi, s) {
  if (t !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$/) {
    return ""
  }
  y = substr(t, 1, 4) + 0
  mo = substr(t, 6, 2) + 0
  d = substr(t, 9, 2) + 0
  h = substr(t, 12, 2) + 0
  mi = substr(t, 15, 2) + 0
  s = substr(t, 18, 2) + 0
  if (!valid_time(y, mo, d, h, mi, s)) {
    return ""
  }
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
}

# Epoch seconds of date(1)'s C-locale output in fields 2 to m-1: weekday, month,
# day, HH:MM:SS, zone, year. Sets guessed_zone when the zone is unknown.
function human_epoch(m,    mo, d, clock, zone, y, h, mi, s, offset) {
  if (m != 8 || !($2 in weekday) || !($3 in month_number)) {
    return ""
  }
  d = $4
  clock = $5
  zone = $6
  y = $7
  if (d !~ /^[0-9][0-9]?$/ || y !~ /^[0-9][0-9][0-9][0-9]$/ || clock !~ /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/) {
    return ""
  }
  mo = month_number[$3]
  h = substr(clock, 1, 2) + 0
  mi = substr(clock, 4, 2) + 0
  s = substr(clock, 7, 2) + 0
  d += 0
  y += 0
  if (!valid_time(y, mo, d, h, mi, s)) {
    return ""
  }
  if (zone in zone_offset) {
    offset = zone_offset[zone]
  } else if (zone ~ /^[+-][0-9][0-9]([0-9][0-9])?$/) {
    offset = numeric_offset(zone)
  } else {
    offset = host_offset_s
    guessed_zone = zone
  }
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
}

END {
  printf "total\tlines\t%.0f\n", lines
  printf "total\tparsed\t%.0f\n", parsed
  printf "total\tunparsed\t%.0f\n", unparsed
  printf "total\tfiltered\t%.0f\n", filtered
  printf "total\tuntimed\t%.0f\n", untimed
  if (first != "") {
    printf "time\tfirst\t%.0f\ntime\tlast\t%.0f\n", first, last
  }
  for (i = 1; i <= unparsed && i <= max_examples; i++) {
    printf "example\t%s\n", example[i]
  }
  for (k in counts) {
    printf "count\tmode\t%s\t%.0f\n", k, counts[k]
  }
  for (k in unknown) {
    printf "count\tunknown\t%s\t%.0f\n", k, unknown[k]
  }
  for (k in zero) {
    printf "count\tzero\t%s\t%.0f\n", k, zero[k]
  }
  for (k in gpu_full) {
    printf "count\tgpufull\t%s\t%.0f\n", k, gpu_full[k]
  }
  for (k in sample) {
    split(k, parts, SUBSEP)
    printf "sample\t%s\t%s\t%s\n", parts[1], parts[2], sample[k]
  }
  for (k in h_count) {
    split(k, parts, SUBSEP)
    printf "hist\t%s\t%s\t%.0f\t%s\t%s\t%s\n", parts[1], parts[2], h_count[k], h_sum[k] "", h_min[k] "", h_max[k] ""
  }
  for (k in h_exact) {
    split(k, parts, SUBSEP)
    exact_line[parts[1] "\t" parts[2]] = exact_line[parts[1] "\t" parts[2]] " " parts[3] ":" sprintf("%.0f", h_exact[k])
  }
  for (k in exact_line) {
    printf "exact\t%s\t%s\n", k, substr(exact_line[k], 2)
  }
  for (k in h_bucket) {
    split(k, parts, SUBSEP)
    bucket_line[parts[1] "\t" parts[2]] = bucket_line[parts[1] "\t" parts[2]] " " parts[3] ":" sprintf("%.0f", h_bucket[k])
  }
  for (k in bucket_line) {
    printf "bucket\t%s\t%s\n", k, substr(bucket_line[k], 2)
  }
  for (k in days) {
    split(k, parts, SUBSEP)
    day_line[parts[1]] = day_line[parts[1]] " " parts[2] ":" sprintf("%.0f", days[k])
  }
  for (k in day_line) {
    printf "day\t%s\t%s\n", k, substr(day_line[k], 2)
  }
  for (k in exits) {
    split(k, parts, SUBSEP)
    printf "exit\t%s\t%s\t%.0f\n", parts[1], parts[2], exits[k]
  }
  for (k in guessed) {
    printf "zone\t%s\t%.0f\n", k, guessed[k]
  }
  for (k in file_lines) {
    if (k != -1) {
      printf "file\t%s\t%.0f\n", k, file_lines[k]
    }
  }
  for (k in read_error) {
    printf "readerror\t%s\t%s\n", k, read_error[k]
  }
}
