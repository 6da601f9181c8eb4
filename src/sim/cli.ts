export async function main (_a: string[], _r: unknown): Promise<void> {}
