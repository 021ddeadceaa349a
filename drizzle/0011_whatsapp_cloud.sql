ALTER TABLE "channel_deliveries" ADD COLUMN "provider_status" text;--> statement-breakpoint
ALTER TABLE "channel_deliveries" ADD COLUMN "provider_status_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "channel_deliveries" ADD COLUMN "provider_error" text;--> statement-breakpoint
CREATE INDEX "channel_deliveries_provider_ids_idx" ON "channel_deliveries" USING gin ("provider_ids");