"""Our cron → Quartz conversion against Quartz 2.3.2's own ``CronExpression`` (DolphinScheduler's engine).

For each cron, Quartz itself (run in a JVM from Debian's ``libquartz2-java``) computes 400 firing
times of the converted expression; they must equal croniter's for the original cron and our test
reader's (``quartz.py``). Skipped, saying why, where no JDK or no Quartz jar exists; CI installs the
package (``.ci/run``).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from croniter import croniter

from dolphin_publisher.cron import to_quartz

from . import quartz

JARS = (Path("/usr/share/java/quartz2.jar"),
        Path("/usr/share/maven-repo/org/quartz-scheduler/quartz/2.3.2/quartz-2.3.2.jar"))
START = datetime(2025, 1, 1)
COUNT = 400
HORIZON = datetime(2054, 12, 31)  # this Quartz build answers no times past 2054; rare crons stop there
# (5-field cron as we accept it, the same cron as croniter spells it)
CRONS: list[tuple[str, str]] = [(c, c) for c in (
    "30 2 * * *", "@hourly", "@weekly", "@monthly", "*/15 * * * 1-5", "0 9 * jan,jul mon-fri", "0 0 * * 5-7",
    "0 12 */3 * *", "0 0 31 * *", "10-40/10 8-18 * * *", "0 6 * * 0,6", "0 0 1 */2 *", "*/7 * * * *",
    "59 23 28-31 * *", "0 0 2/5 * *", "1,2,3,5,8,13 * * * *", "0 0 L * *", "0 6 15W * *", "0 6 1W * *",
    "30 8 * * 1#2", "0 0 * * 0#5", "0 22-2 * * *", "0 7 * * 5-1", "50-10/5 3 * * *",
    # every preset
    "@daily", "@midnight", "@yearly", "@annually",
    # lists, ranges and steps in every field
    "* * * * *", "0 * * * *", "5 4 * * *", "0 0,12 * * *", "15,45 9-17 * * 1-5", "0 */2 * * *", "0 1-23/4 * * *",
    "*/5 8-10 * * *", "0 0 1,15 * *", "0 0 10-20 * *", "0 0 1-31/10 * *", "0 0 * 1-6 *", "0 0 1 */3 *",
    "0 0 1 1,4,7,10 *", "0 0 * 6-8 0", "0 3 * * 1,3,5", "0 3 * * 2-4", "0 3 * * */2", "0 0 29 2 *",
    "0 0 30 1-12/2 *", "59 23 * * 6", "0 0-23/6 1 * *",
    # names of months and days, mixed case
    "0 8 * * MON", "0 8 * * sat,sun", "0 8 1 FEB *", "0 8 * mar-may tue-thu", "0 8 * DEC fri",
    # Quartz-only day tokens that cron also reads
    "0 0 L 2 *", "0 18 L * *", "0 9 * * 1#1", "0 9 * * 3#3", "0 9 * * 6#4", "0 12 10W * *", "0 12 28W * *",
    # wrap-around ranges
    "0 23-1 * * *", "0 9 * * 6-1", "0 0 * 11-2 *", "55-5 * * * *",
)] + [("0 9 * * 5L", "0 9 * * L5"), ("0 12 ? * 1", "0 12 * * 1"), ("0 0 1 * ?", "0 0 1 * *"),
      ("0 6 ? * mon-fri", "0 6 * * mon-fri"), ("30 1 15 * ?", "30 1 15 * *")]
QUARTZ_ONLY = ["0 0 LW * *", "0 0 L-3 * *", "15 4 L-0 2 *"]  # croniter cannot read these: Quartz vs our reader

PROGRAM = """
import java.text.SimpleDateFormat;
import java.util.*;
import org.quartz.CronExpression;

public class QuartzTimes {
    public static void main(String[] args) throws Exception {
        TimeZone utc = TimeZone.getTimeZone("UTC");
        SimpleDateFormat fmt = new SimpleDateFormat("yyyy-MM-dd HH:mm:ss");
        fmt.setTimeZone(utc);
        Scanner in = new Scanner(System.in);
        int count = Integer.parseInt(in.nextLine().trim());
        Date start = fmt.parse(in.nextLine().trim());
        while (in.hasNextLine()) {
            String line = in.nextLine().trim();
            if (line.isEmpty()) continue;
            CronExpression cron = new CronExpression(line);
            cron.setTimeZone(utc);
            StringBuilder out = new StringBuilder();
            Date at = start;
            for (int i = 0; i < count; i++) {
                at = cron.getNextValidTimeAfter(at);
                if (at == null) break;
                out.append(i == 0 ? "" : ",").append(fmt.format(at));
            }
            System.out.println(out);
        }
    }
}
"""


def _jar() -> Path | None:
    return next((j for j in JARS if j.is_file()), None)


@pytest.fixture(scope="module")
def quartz_times(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[datetime]]:
    """Quartz's own firing times for every converted expression, from one JVM run."""
    jar = _jar()
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK (javac/java) on this machine: cannot run Quartz's CronExpression")
    if jar is None:
        pytest.skip("Quartz 2.3.2 jar not found (apt-get install libquartz2-java; .ci/run does)")
    work = tmp_path_factory.mktemp("quartz_jvm")
    (work / "QuartzTimes.java").write_text(PROGRAM)
    subprocess.run(["javac", "-cp", str(jar), "-d", str(work), str(work / "QuartzTimes.java")], check=True,
                   capture_output=True, timeout=120)
    expressions = [to_quartz(cron) for cron in [c for c, _ in CRONS] + QUARTZ_ONLY]
    stdin = "\n".join([str(COUNT), START.strftime("%Y-%m-%d %H:%M:%S"), *expressions]) + "\n"
    run = subprocess.run(["java", "-cp", f"{work}:{jar}", "QuartzTimes"], input=stdin, capture_output=True,
                         text=True, check=True, timeout=120)
    lines = run.stdout.strip().split("\n")
    assert len(lines) == len(expressions), run.stderr
    return {expr: [datetime.strptime(t, "%Y-%m-%d %H:%M:%S") for t in line.split(",")]
            for expr, line in zip(expressions, lines, strict=True)}


@pytest.mark.parametrize(("cron", "croniter_form"), CRONS, ids=[c for c, _ in CRONS])
def test_quartz_fires_the_converted_expression_exactly_when_cron_does(
        quartz_times: dict[str, list[datetime]], cron: str, croniter_form: str) -> None:
    expression = to_quartz(cron)
    fired = quartz_times[expression]
    it = croniter(croniter_form, START)
    expected = [t for t in (it.get_next(datetime) for _ in range(COUNT)) if t <= HORIZON]
    assert len(expected) >= 5 and fired[:len(expected)] == expected, expression
    assert quartz.fire_times(expression, START, len(expected)) == expected, expression


def test_a_weekday_token_past_the_28th_is_refused_as_quartz_skips_short_months() -> None:
    """Quartz skips February for ``31W`` where cron takes Feb 28 (found by the comparison above)."""
    from dolphin_publisher.errors import CronConversionError

    with pytest.raises(CronConversionError, match="skipped there"):
        to_quartz("0 12 31W * *")


@pytest.mark.parametrize("cron", QUARTZ_ONLY)
def test_quartz_only_day_tokens_match_our_reader(quartz_times: dict[str, list[datetime]], cron: str) -> None:
    expression = to_quartz(cron)
    fired = [t for t in quartz_times[expression] if t <= HORIZON]
    assert len(fired) >= 25 and quartz.fire_times(expression, START, len(fired)) == fired, expression
