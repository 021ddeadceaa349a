ALTER TABLE "messages" ADD COLUMN "follow_up" text;--> statement-breakpoint
CREATE INDEX "messages_follow_up_idx" ON "messages" USING btree ("created_at") WHERE "messages"."follow_up" = 'pending';