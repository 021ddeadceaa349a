import type { ChatCompletionsChunk, ChunkExtras, ChunkUsage } from '../chat-completions.js';

/** Groq's chunk: OpenAI's, plus `x_groq`, where usage (and early-stop errors) arrive on the last chunk. */
export interface GroqChunk extends ChatCompletionsChunk {
  x_groq?: { usage?: ChunkUsage | null; error?: string | null } | null;
}

export const readGroqExtras = (chunk: GroqChunk): ChunkExtras | null | undefined => chunk.x_groq;
