-- Shared objects the hard-case tables need: schemas, enum types and domains.
-- The generated .ddl files do not create these (several tables share them); the round-trip test runs
-- this file in the empty target database before applying the generated DDL.
CREATE SCHEMA "Sales Dept";
CREATE SCHEMA 库存;
CREATE SCHEMA audit;
CREATE TYPE public.mood AS ENUM ('happy', 'sad', 'it''s complicated');
CREATE TYPE "Sales Dept"."Order Status" AS ENUM ('New', 'Paid', 'Shipped', 'has,comma', 'Cancelled -- really');
CREATE DOMAIN public.positive_int AS integer CHECK (VALUE > 0);
CREATE DOMAIN 库存.sku_code AS varchar(32) CHECK (VALUE ~ '^[A-Z0-9-]+$');
CREATE DOMAIN public.short_label AS public.positive_int;
