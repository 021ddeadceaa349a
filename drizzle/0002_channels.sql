CREATE TABLE "channel_contacts" (
	"channel" text NOT NULL,
	"address" text NOT NULL,
	"opted_out_at" timestamp with time zone,
	"limit_notice_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "channel_contacts_channel_address_pk" PRIMARY KEY("channel","address")
);
--> statement-breakpoint
CREATE TABLE "channel_deliveries" (
	"id" uuid PRIMARY KEY NOT NULL,
	"conversation_id" uuid NOT NULL,
	"message_id" uuid,
	"channel" text NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"parts" integer DEFAULT 1 NOT NULL,
	"error" text,
	"provider_ids" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "channel_reply_routes" (
	"channel" text NOT NULL,
	"external_message_id" text NOT NULL,
	"route" jsonb NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "channel_reply_routes_channel_external_message_id_pk" PRIMARY KEY("channel","external_message_id")
);
--> statement-breakpoint
ALTER TABLE "channel_deliveries" ADD CONSTRAINT "channel_deliveries_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_deliveries" ADD CONSTRAINT "channel_deliveries_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "channel_deliveries_status_created_idx" ON "channel_deliveries" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "channel_deliveries_message_idx" ON "channel_deliveries" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "channel_reply_routes_expires_idx" ON "channel_reply_routes" USING btree ("expires_at");