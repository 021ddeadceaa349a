CREATE TABLE "payment_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"livemode" boolean NOT NULL,
	"object_id" text,
	"checkout_session_id" text,
	"invoice_id" text,
	"subscription_id" text,
	"conversation_id" uuid,
	"tool_call_id" uuid,
	"amount" integer,
	"currency" text,
	"payment_status" text,
	"status" text DEFAULT 'received' NOT NULL,
	"outcome" text,
	"notified" boolean DEFAULT false NOT NULL,
	"error" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"processed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "payment_status" text;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "payment_amount" integer;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "payment_currency" text;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "payment_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "payment_event_id" text;--> statement-breakpoint
CREATE INDEX "payment_events_received_idx" ON "payment_events" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "payment_events_pending_idx" ON "payment_events" USING btree ("received_at") WHERE "payment_events"."status" = 'received';--> statement-breakpoint
CREATE INDEX "payment_events_conversation_idx" ON "payment_events" USING btree ("conversation_id","received_at");--> statement-breakpoint
CREATE INDEX "payment_events_type_idx" ON "payment_events" USING btree ("type","received_at");