DROP TABLE auth_secrets;
