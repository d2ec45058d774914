using System;
using System.Linq;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Running;

namespace LargeFolios.Bench;

/// <summary>
/// BenchmarkDotNet entry point; all of BenchmarkDotNet's command-line options apply
/// (<c>--filter</c>, <c>--job</c>, <c>--inProcess</c>, ...). The mimalloc benchmarks are left out,
/// with a message, when libmimalloc.so.2 is not installed.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        IConfig config = DefaultConfig.Instance;
        if (!Mimalloc.IsAvailable)
        {
            Console.WriteLine("mimalloc benchmarks skipped: libmimalloc.so.2 not found (Debian package libmimalloc2.0).");
            config = config.AddFilter(new NameFilter(name => !name.Contains("Mimalloc", StringComparison.Ordinal)));
        }

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
