using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace LibKv.Core;

/// <summary>
/// Traces and durations of store calls after OpenTelemetry's database conventions: ActivitySource <c>LibKv</c>, one
/// client activity per call, and the histogram <c>db.client.operation.duration</c> (seconds) on meter <c>LibKv</c>.
/// </summary>
public static class KvTelemetry
{
    /// <summary>The ActivitySource name to listen to.</summary>
    public const string SourceName = "LibKv";

    private static readonly ActivitySource s_source = new(SourceName, "1.0");

    /// <summary>Store call durations in seconds, tagged <c>db.system.name</c>, <c>db.operation.name</c> and, on failure, <c>error.type</c>.</summary>
    public static readonly Histogram<double> Duration = KvMetrics.Meter.CreateHistogram<double>(
        "db.client.operation.duration", unit: "s", description: "Duration of LibKv store calls.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] });

    /// <summary>True when anything listens; the store calls take the untraced path otherwise.</summary>
    public static bool Enabled => Duration.Enabled || s_source.HasListeners();

    /// <summary>Starts the telemetry of one call; the caller's <see cref="Activity.Current"/> is left as it was.</summary>
    public static Scope Start(string backend, string operation, string? key = null)
    {
        var previous = Activity.Current;
        var activity = s_source.StartActivity(operation + " " + backend, ActivityKind.Client);
        if (activity is not null)
        {
            activity.SetTag("db.system.name", backend);
            activity.SetTag("db.system", backend);
            activity.SetTag("db.operation.name", operation);
            Activity.Current = previous;
        }

        return new Scope(backend, operation, activity, Stopwatch.GetTimestamp());
    }

    /// <summary>The error.type tag of a failure: the KvErrorCode, "cancelled", or the exception type.</summary>
    public static string ErrorType(Exception e) => e switch
    {
        KvException kv => kv.Code.ToString(),
        OperationCanceledException => "cancelled",
        _ => e.GetType().FullName ?? "error",
    };

    /// <summary>One store call under way.</summary>
    public readonly struct Scope(string backend, string operation, Activity? activity, long started)
    {
        /// <summary>Runs <paramref name="call"/> with the activity current, so a backend's own spans nest under it.</summary>
        public ValueTask Run<TState>(TState state, Func<TState, ValueTask> call)
        {
            var previous = Enter();
            try
            {
                return Track(call(state));
            }
            catch (Exception e)
            {
                End(e);
                throw;
            }
            finally
            {
                Activity.Current = previous;
            }
        }

        /// <summary>Runs <paramref name="call"/> with the activity current.</summary>
        public ValueTask<T> Run<TState, T>(TState state, Func<TState, ValueTask<T>> call)
        {
            var previous = Enter();
            try
            {
                return Track(call(state));
            }
            catch (Exception e)
            {
                End(e);
                throw;
            }
            finally
            {
                Activity.Current = previous;
            }
        }

        private Activity? Enter()
        {
            var previous = Activity.Current;
            if (activity is not null)
            {
                Activity.Current = activity;
            }

            return previous;
        }

        private async ValueTask Track(ValueTask task)
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (Exception e)
            {
                End(e);
                throw;
            }

            End(null);
        }

        private async ValueTask<T> Track<T>(ValueTask<T> task)
        {
            T result;
            try
            {
                result = await task.ConfigureAwait(false);
            }
            catch (Exception e)
            {
                End(e);
                throw;
            }

            End(null);
            return result;
        }

        private void End(Exception? error)
        {
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var errorType = error is null ? null : ErrorType(error);
            if (Duration.Enabled)
            {
                var tags = new TagList
                {
                    { "db.system.name", backend },
                    { "db.operation.name", operation },
                };
                if (errorType is not null)
                {
                    tags.Add("error.type", errorType);
                }

                Duration.Record(seconds, tags);
            }

            if (activity is not null)
            {
                if (errorType is not null)
                {
                    activity.SetTag("error.type", errorType);
                    activity.SetStatus(ActivityStatusCode.Error, error!.Message);
                }

                activity.Stop();
            }
        }
    }
}
