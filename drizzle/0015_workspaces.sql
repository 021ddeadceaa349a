CREATE TABLE "inbound_refusals" (
	"id" uuid PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"identity" text NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workspace_channels" (
	"channel" text NOT NULL,
	"identity" text NOT NULL,
	"workspace_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspace_channels_channel_identity_pk" PRIMARY KEY("channel","identity")
);
--> statement-breakpoint
CREATE TABLE "workspace_credentials" (
	"workspace_id" text NOT NULL,
	"integration" text NOT NULL,
	"key_id" text NOT NULL,
	"wrapped_key" text NOT NULL,
	"ciphertext" text NOT NULL,
	"masked" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspace_credentials_workspace_id_integration_pk" PRIMARY KEY("workspace_id","integration")
);
--> statement-breakpoint
CREATE TABLE "workspaces" (
	"id" text PRIMARY KEY NOT NULL,
	"slug" text NOT NULL,
	"name" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"widget_key" text NOT NULL,
	"allowed_origins" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspaces_slug_unique" UNIQUE("slug"),
	CONSTRAINT "workspaces_widget_key_unique" UNIQUE("widget_key")
);
--> statement-breakpoint
-- The deployment's own workspace, built from the environment: every existing row belongs to it.
INSERT INTO "workspaces" ("id", "slug", "name", "widget_key") VALUES ('default', 'default', 'Default', 'wk_default') ON CONFLICT DO NOTHING;--> statement-breakpoint
DROP INDEX "conversations_identity_uq";--> statement-breakpoint
ALTER TABLE "channel_contacts" DROP CONSTRAINT "channel_contacts_channel_address_pk";--> statement-breakpoint
ALTER TABLE "admin_audit" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "admin_users" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "channel_contacts" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "channel_contacts" ADD CONSTRAINT "channel_contacts_workspace_id_channel_address_pk" PRIMARY KEY("workspace_id","channel","address");--> statement-breakpoint
ALTER TABLE "channel_deliveries" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "conversation_notes" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "handoffs" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "payment_events" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "workspace_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "workspace_channels" ADD CONSTRAINT "workspace_channels_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "workspace_credentials" ADD CONSTRAINT "workspace_credentials_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "inbound_refusals_created_idx" ON "inbound_refusals" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "workspace_channels_workspace_idx" ON "workspace_channels" USING btree ("workspace_id");--> statement-breakpoint
ALTER TABLE "admin_users" ADD CONSTRAINT "admin_users_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "conversations" ADD CONSTRAINT "conversations_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "admin_audit_workspace_created_idx" ON "admin_audit" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE INDEX "channel_deliveries_workspace_created_idx" ON "channel_deliveries" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE INDEX "conversations_workspace_updated_idx" ON "conversations" USING btree ("workspace_id","updated_at");--> statement-breakpoint
CREATE INDEX "handoffs_workspace_status_requested_idx" ON "handoffs" USING btree ("workspace_id","status","requested_at");--> statement-breakpoint
CREATE INDEX "messages_workspace_cost_created_idx" ON "messages" USING btree ("workspace_id","created_at") WHERE "messages"."cost_usd" is not null;--> statement-breakpoint
CREATE INDEX "payment_events_workspace_received_idx" ON "payment_events" USING btree ("workspace_id","received_at");--> statement-breakpoint
CREATE INDEX "tool_calls_workspace_created_idx" ON "tool_calls" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "conversations_identity_uq" ON "conversations" USING btree ("workspace_id","channel","external_user_id","thread_key");;--> statement-breakpoint
-- Rows under a conversation take its workspace, whatever the statement wrote: a message, tool
-- call, handoff, note or delivery can never sit in another workspace than its conversation.
CREATE FUNCTION "switchboard_inherit_workspace"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE owner_workspace text;
BEGIN
  SELECT c.workspace_id INTO owner_workspace FROM conversations c WHERE c.id = NEW.conversation_id;
  IF owner_workspace IS NOT NULL THEN
    NEW.workspace_id := owner_workspace;
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "messages_inherit_workspace" BEFORE INSERT ON "messages" FOR EACH ROW EXECUTE FUNCTION "switchboard_inherit_workspace"();--> statement-breakpoint
CREATE TRIGGER "tool_calls_inherit_workspace" BEFORE INSERT ON "tool_calls" FOR EACH ROW EXECUTE FUNCTION "switchboard_inherit_workspace"();--> statement-breakpoint
CREATE TRIGGER "handoffs_inherit_workspace" BEFORE INSERT ON "handoffs" FOR EACH ROW EXECUTE FUNCTION "switchboard_inherit_workspace"();--> statement-breakpoint
CREATE TRIGGER "conversation_notes_inherit_workspace" BEFORE INSERT ON "conversation_notes" FOR EACH ROW EXECUTE FUNCTION "switchboard_inherit_workspace"();--> statement-breakpoint
CREATE TRIGGER "channel_deliveries_inherit_workspace" BEFORE INSERT ON "channel_deliveries" FOR EACH ROW EXECUTE FUNCTION "switchboard_inherit_workspace"();
