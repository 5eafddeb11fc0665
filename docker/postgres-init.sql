-- The cluster profile's journals: a database for each switching centre of config/network.toml,
-- owned by the user the centres log in as (POSTGRES_USER). Run once, at the first start.
CREATE DATABASE beltsville OWNER router;
CREATE DATABASE detrick OWNER router;
CREATE DATABASE tinker OWNER router;
CREATE DATABASE wahiawa OWNER router;
CREATE DATABASE pirmasens OWNER router;
