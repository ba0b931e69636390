DROP TABLE limit_logins;
DROP TABLE limit_client_hits;
DROP TABLE limit_clients;
