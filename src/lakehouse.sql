/* lakehouse--0.2.sql (assembled by the Makefile from the parts under src/: edit those) */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lakehouse" to load this file. \quit
