// The helm test's check (node -e in the operator's image): GET $READYZ_URL until it
// answers 200, for at most a minute (a Service learns of a ready Pod a moment late).
// Exits 0 on 200, else 1 with what it got last, in words.
(async () => {
  const url = process.env.READYZ_URL;
  const deadline = Date.now() + Number(process.env.READYZ_WAIT_MS ?? 60000);
  let last = 'no answer';
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      const body = (await response.text()).trim();
      if (response.status === 200) {
        console.log(`${url} answered ${response.status} ${body}: an operator replica is ready`);
        process.exit(0);
      }
      last = `HTTP ${response.status} ${body}`;
    } catch (err) {
      last = err.cause?.code ?? err.cause?.message ?? err.message;
    }
    if (Date.now() > deadline) {
      console.error(`no ready operator replica answered ${url}: ${last}`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
})();
