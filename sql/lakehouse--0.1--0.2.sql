/* sql/lakehouse--0.1--0.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lakehouse UPDATE TO '0.2'" to load this file. \quit

/*
 * lakehouse 0.1 -> 0.2.  Every catalog change of 0.2 is made here, so that
 * an updated database has the catalog of a fresh 0.2 install (the upgrade
 * test, test/t/017_upgrade.pl, compares the two).
 */
