// Package webhook delivers the webhook deliveries that Steward's writes
// queue (R-HOOK-2): signed per Standard Webhooks, in order per endpoint,
// retried with exponential backoff and jitter, from one node at a time,
// and only to addresses the operator allows (R-HOOK-3).
package webhook
