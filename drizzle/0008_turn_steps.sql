CREATE TABLE "turn_steps" (
	"message_id" uuid NOT NULL,
	"step" integer NOT NULL,
	"output" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "turn_steps_message_id_step_pk" PRIMARY KEY("message_id","step")
);
--> statement-breakpoint
ALTER TABLE "turn_steps" ADD CONSTRAINT "turn_steps_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;