ALTER TABLE "admin_users" ALTER COLUMN "password_hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "admin_users" ADD COLUMN "oidc_subject" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "cost_usd" double precision;--> statement-breakpoint
CREATE INDEX "messages_cost_created_idx" ON "messages" USING btree ("created_at") WHERE "messages"."cost_usd" is not null;--> statement-breakpoint
ALTER TABLE "admin_users" ADD CONSTRAINT "admin_users_oidc_subject_unique" UNIQUE("oidc_subject");