DROP TABLE usage_notices;
DROP TABLE usage_counters;
