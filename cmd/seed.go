package cmd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/signalops/signalops/modules/auth"
)

func newSeedCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "seed", Short: "Create data: tenants and their first API key"}
	var (
		in     auth.CreateTenantInput
		soft   int64
		hard   int64
		asJSON bool
	)
	tenant := &cobra.Command{
		Use:   "tenant",
		Short: "Create a tenant, its first API key (printed once) and optionally its owner",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("soft-limit") {
				in.SoftLimit = &soft
			}
			if cmd.Flags().Changed("hard-limit") {
				in.HardLimit = &hard
			}
			return a.withDB(cmd.Context(), func(ctx context.Context, p *sqlx.DB) error {
				out, err := auth.NewService(p, a.logger, auth.Options{}).CreateTenant(ctx, in)
				if err != nil {
					return describe(err)
				}
				return printSeeded(a, out, asJSON)
			})
		},
	}
	f := tenant.Flags()
	f.StringVar(&in.Slug, "slug", "", "URL-safe tenant identifier (required, unique)")
	f.StringVar(&in.Name, "name", "", "display name (required)")
	f.StringVar(&in.Plan, "plan", "free", "plan: free, pro or enterprise")
	f.Int64Var(&soft, "soft-limit", 0, "monthly soft limit of events (default: the plan's)")
	f.Int64Var(&hard, "hard-limit", 0, "monthly hard limit of events (default: the plan's)")
	f.StringVar(&in.OwnerEmail, "owner-email", "", "create an owner user with this email")
	f.StringVar(&in.OwnerPassword, "owner-password", "", "the owner's password (8-72 bytes)")
	f.BoolVar(&asJSON, "json", false, `print {"tenantId","slug","apiKey","apiKeyPrefix"}`)
	_ = tenant.MarkFlagRequired("slug")
	_ = tenant.MarkFlagRequired("name")
	cmd.AddCommand(tenant)
	return cmd
}

type seededTenant struct {
	TenantID     string `json:"tenantId"`
	Slug         string `json:"slug"`
	APIKey       string `json:"apiKey"`
	APIKeyPrefix string `json:"apiKeyPrefix"`
}

func printSeeded(a *app, out auth.CreatedTenant, asJSON bool) error {
	s := seededTenant{TenantID: out.Tenant.ID.String(), Slug: out.Tenant.Slug, APIKey: out.APIKey, APIKeyPrefix: out.APIKeyPrefix}
	if asJSON {
		return json.NewEncoder(a.stdout).Encode(s) //nolint:gosec // G117: printing the new key once is this command's job
	}
	fmt.Fprintf(a.stdout, "tenant %s created (id %s, plan %s)\n", s.Slug, s.TenantID, out.Tenant.Plan)
	if out.Owner != nil {
		fmt.Fprintf(a.stdout, "owner:   %s\n", out.Owner.Email)
	}
	fmt.Fprintf(a.stdout, "API key: %s\n(shown once: only its digest is stored)\n", s.APIKey)
	return nil
}
