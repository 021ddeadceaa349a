CREATE TABLE "inbound_receipts" (
	"channel" text NOT NULL,
	"external_message_id" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "inbound_receipts_channel_external_message_id_pk" PRIMARY KEY("channel","external_message_id")
);
--> statement-breakpoint
ALTER TABLE "channel_deliveries" ADD COLUMN "provider_status" text;--> statement-breakpoint
ALTER TABLE "channel_deliveries" ADD COLUMN "provider_status_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "channel_deliveries" ADD COLUMN "provider_error" text;--> statement-breakpoint
CREATE INDEX "inbound_receipts_received_idx" ON "inbound_receipts" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "channel_deliveries_provider_ids_idx" ON "channel_deliveries" USING gin ("provider_ids");