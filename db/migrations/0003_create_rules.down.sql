DROP TABLE rule_groups;
DROP TABLE rule_matches;
DROP TABLE rule_versions;
DROP TABLE rules;
