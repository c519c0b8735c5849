# Sourced by runtime/bench/query and runtime/bench/reads-during-commit: the distinct
# random queries both send, drawn the same way for the runtime and for pgbench.
#
#   distinct_paths PSQL DB_URL N OUT       N request paths (one per line) into OUT: a
#                                          random origin and destination (any port or
#                                          region of the data) and a random range of 1
#                                          to 31 days inside the data's span, fixed seed;
#                                          the places and days drawn from in OUT.places
#                                          and OUT.days, one per line
#   distinct_pgbench_script PSQL DB_URL OUT
#                                          the same draw as a pgbench script running
#                                          RATES_SQL (runtime/src/query/rates.rs, as the
#                                          runtime sends it); creates table bench_places
#   pgbench_log_as_open_loop PREFIX OUT    pgbench -l logs PREFIX.* rewritten as
#                                          open_loop's OPEN_LOOP_LOG lines
#                                          (`due_unix_ms latency_ms ok`)
# Run from the repository's root.

distinct_paths() {
  local psql=$1 db=$2 n=$3 out=$4
  "$psql" -At "$db" -c "SELECT code FROM ports UNION ALL SELECT slug FROM regions ORDER BY 1" >"$out.places"
  "$psql" -At "$db" -c "SELECT d::date FROM generate_series((SELECT min(day) FROM lane_daily), (SELECT max(day) FROM lane_daily), interval '1 day') d" >"$out.days"
  awk -v n="$n" 'FNR == NR { p[++np] = $0; next } { d[++nd] = $0 }
    END { srand(20161201); for (i = 0; i < n; i++) {
      o = p[int(rand() * np) + 1]; t = p[int(rand() * np) + 1]; len = int(rand() * 31); s = int(rand() * (nd - len)) + 1
      printf "/rates?date_from=%s&date_to=%s&origin=%s&destination=%s\n", d[s], d[s + len], o, t } }' \
    "$out.places" "$out.days" >"$out"
}

distinct_pgbench_script() {
  local psql=$1 db=$2 out=$3 sql nplaces ndays first
  sql=$(sed -n '/^pub const RATES_SQL: &str = r#"/,/"#;$/p' runtime/src/query/rates.rs \
    | sed -e 's/^pub const RATES_SQL: &str = r#"//' -e 's/"#;$//')
  [ -n "$sql" ] || { echo "could not extract RATES_SQL from runtime/src/query/rates.rs" >&2; return 1; }
  # pgbench draws its places from a numbered table of the same places.
  "$psql" "$db" -q -c "DROP TABLE IF EXISTS bench_places" \
    -c "CREATE TABLE bench_places AS SELECT row_number() OVER (ORDER BY p) AS i, p FROM (SELECT code::text AS p FROM ports UNION ALL SELECT slug FROM regions) x" \
    -c "CREATE UNIQUE INDEX ON bench_places (i)" -c "ANALYZE bench_places"
  nplaces=$("$psql" -At "$db" -c "SELECT count(*) FROM bench_places")
  read -r first ndays < <("$psql" -At -F ' ' "$db" -c "SELECT min(day), max(day) - min(day) + 1 FROM lane_daily")
  {
    echo "\\set o random(1, $nplaces)"
    echo "\\set d random(1, $nplaces)"
    echo "\\set len random(0, 30)"
    echo "\\set s random(0, $((ndays - 1)) - :len)"
    printf '%s;\n' "$sql" | sed -e 's/\$1/(SELECT p FROM bench_places WHERE i = :o)/g' \
      -e 's/\$2/(SELECT p FROM bench_places WHERE i = :d)/g' \
      -e "s/\\\$3/('$first'::date + :s::int)/g" -e "s/\\\$4/('$first'::date + :s::int + :len::int)/g" | tr '\n' ' '
    echo
  } >"$out"
}

# pgbench -l lines: client transaction latency_us script end_epoch_s end_us [lag_us].
# With -R the latency counts from the scheduled start, so due = end - latency.
pgbench_log_as_open_loop() {
  cat "$1".* | awk '{ printf "%.3f %.3f 1\n", $5 * 1000 + $6 / 1000 - $3 / 1000, $3 / 1000 }' >"$2"
}
