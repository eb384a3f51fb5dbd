// A pico-style temperature store: readings come in as wovyn:heartbeat events, are kept (the last
// ten), and any above the threshold raise wovyn:threshold_violation. A schedule asks for a daily
// summary. Queries: temperatures(), violations(), inRange(low, high).
ruleset example.temperature_store {
  meta {
    name "Temperature store"
    description <<Keeps a sensor's readings, pico style>>
    version "1.0.0"
    shares temperatures, violations, inRange, __testing
  }
  global {
    threshold = 80
    keep = 10
    temperatures = function() { ent:temperatures.defaultsTo([]) }
    violations = function() { ent:violations.defaultsTo([]) }
    inRange = function(low = 0, high = 100) {
      temperatures().filter(function(r) { r{"temperature"} >= low && r{"temperature"} <= high })
    }
    __testing = { "queries": [ { "name": "temperatures" }, { "name": "inRange", "args": ["low", "high"] } ],
                  "events": [ { "domain": "wovyn", "type": "heartbeat", "attrs": ["readings"] } ] }
  }

  rule process_heartbeat {
    select when wovyn heartbeat
    foreach event:attr("readings").defaultsTo([]) setting(reading, i)
    pre {
      temperature = reading{"temperatureF"}.as("Number")
      record = { "temperature": temperature, "time": event:time, "n": i }
    }
    if reading >< "temperatureF" then send_directive("reading", record)
    fired {
      kept = temperatures().append([record]);
      ent:temperatures := kept.length() > keep => kept.slice(kept.length() - keep, kept.length() - 1) | kept;
      raise wovyn event "threshold_violation" attributes record if temperature > threshold;
      ent:count := ent:count.defaultsTo(0) + 1 on final
    } else {
      log warn <<reading #{i} has no temperatureF>>
    }
  }

  rule threshold_notification {
    select when wovyn threshold_violation
    pre { over = event:attr("temperature") - threshold }
    send_directive("violation", { "over": over })
    always {
      ent:violations := violations().append(event:attrs)
    }
  }

  rule daily_summary {
    select when wovyn summary_requested
    fired {
      schedule wovyn event "summary" at time:add(time:now(), { "days": 1 }) setting(id);
      ent:summary_schedule := id
    }
  }
}
