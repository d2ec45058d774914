using System;
using System.IO;
using System.Threading;
using LargeFolios.Folios.Cli;
using Spectre.Console;
using Xunit;

namespace LargeFolios.Folios.Tests;

public sealed class ProgressDisplayTests : IDisposable
{
    private readonly StringWriter _terminal = new();
    private readonly ProgressDisplay _display;

    public ProgressDisplayTests() => _display = new ProgressDisplay(AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(_terminal),
        Ansi = AnsiSupport.Yes,
        Interactive = InteractionSupport.Yes,
    }));

    public void Dispose() => _terminal.Dispose();

    [Fact]
    public void A_short_job_draws_nothing()
    {
        Assert.Equal(42, _display.Run("short", new WorkProgress(), () => 42));
        Assert.Equal("", _terminal.ToString());
    }

    [Fact]
    public void A_long_job_draws_its_bar()
    {
        var progress = new WorkProgress();
        progress.Plan(2);

        int result = _display.Run("long job", progress, () =>
        {
            progress.Advance(1);
            Thread.Sleep(ProgressDisplay.ShowAfter + TimeSpan.FromMilliseconds(300));
            progress.Advance(1);
            return 7;
        });

        Assert.Equal(7, result);
        Assert.Contains("long job", _terminal.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_jobs_exception_comes_out_as_it_was_thrown()
    {
        InvalidOperationException thrown = Assert.Throws<InvalidOperationException>(() =>
            _display.Run<int>("failing", new WorkProgress(), () => throw new InvalidOperationException("the job's own")));

        Assert.Equal("the job's own", thrown.Message);
    }

    [Fact]
    public void Without_a_terminal_the_job_runs_on_the_callers_thread()
    {
        int caller = Environment.CurrentManagedThreadId;

        Assert.Equal(caller, ProgressDisplay.None.Run("inline", new WorkProgress(), () => Environment.CurrentManagedThreadId));
    }
}
