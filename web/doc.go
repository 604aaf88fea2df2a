// Package web is Steward's console: server-rendered pages over
// steward.Service, exactly as the JSON API is a client of it. Handlers parse
// the form, call the service, map its errors to messages and render a
// template; no rule lives here.
//
// Pages are html/template files embedded from templates/, parsed once at
// start. Static files (Pico CSS, htmx, the console's own CSS and script) are
// embedded from static/ and served under content-hash URLs with long cache
// lifetimes. Every state-changing form posts without JavaScript; htmx only
// shortens some round trips. Sessions live in the database (scs), state-
// changing requests pass http.CrossOriginProtection, and sign-in attempts are
// throttled per address and per client IP.
package web
