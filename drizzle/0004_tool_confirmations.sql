ALTER TABLE "tool_calls" ADD COLUMN "confirmation_summary" text;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "confirmation_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "confirmation_decision" text;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "confirmation_decided_at" timestamp with time zone;