// Package billing owns plans and their limits (monthly event quotas, request
// rates); usage counting arrives with the usage issue.
//
// Tables: none yet.
// Routes: none yet.
// Jobs: none yet.
// Imports: auth, platform. Never events or notify (they import billing).
package billing
