// Package mail delivers the outbox: the messages the Service writes in the
// same transaction as the change they announce (steward.Message). A Sender
// polls for due messages and sends each over SMTP, retrying with
// exponential backoff, or, when no SMTP server is configured, writes each
// as an .eml file into a mail folder that a person can read.
package mail
