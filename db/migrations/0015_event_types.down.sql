DROP TABLE event_type_catalogs;
DROP TABLE event_type_versions;
DROP TABLE event_types;
